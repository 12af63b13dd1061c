"""The progression chart of one side: reps per set over time, stage steps, painful sets.

Server-rendered inline SVG: no JavaScript, no library, prints as it shows. The SVG carries a
<title> and a <desc> that say in words what the chart shows, and the same numbers are returned as
rows for a table, so nothing depends on seeing the picture.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from clinic.charts.svg import titled_svg

if TYPE_CHECKING:
    from exercises.models import StageChange

# Drawn at about the size it is shown in a side's card, so 12-unit text reads as ~12px.
WIDTH, HEIGHT = 520, 230
LEFT, RIGHT, TOP, BOTTOM = 32, 10, 32, 26
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class ChartSet:
    performed_at: dt.datetime
    reps: int
    pain: int
    stage: int
    # The pain alert threshold in force for the set (its prescription's, else the clinic's).
    alert_above: int

    @property
    def pain_alert(self) -> bool:
        return self.pain > self.alert_above


@dataclass(frozen=True)
class ChartStep:
    at: dt.datetime
    from_stage: int | None
    to_stage: int | None

    @classmethod
    def of(cls, change: StageChange) -> ChartStep:
        return cls(
            change.at,
            change.from_stage.number if change.from_stage else None,
            change.to_stage.number if change.to_stage else None,
        )

    @property
    def label(self) -> str:
        if self.to_stage is None:
            return "Stopped"
        if self.from_stage is None:
            return f"Stage {self.to_stage}"
        arrow = "↑" if self.to_stage > self.from_stage else "↓"
        return f"{arrow} Stage {self.to_stage}"


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    svg: SafeString
    sets: Sequence[ChartSet]
    steps: Sequence[ChartStep]


def _nice_max(value: int) -> int:
    step = 5 if value <= 40 else 10
    return max(step, math.ceil(value / step) * step)


def _tick_days(span_days: float) -> int:
    if span_days <= 10:
        return 1
    if span_days <= 120:
        return 7
    return 28


@dataclass(frozen=True)
class _Frame:
    """Where things go: time from `start` to `end` across, reps from 0 to `y_max` up."""

    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo
    y_max: int

    @property
    def span(self) -> float:
        """The seconds across the plot (an hour at least, so a single set is not on the edge)."""
        return max((self.end - self.start).total_seconds(), 3600.0)

    def x(self, at: dt.datetime) -> float:
        fraction = min(max((at - self.start).total_seconds() / self.span, 0), 1)
        return round(LEFT + PLOT_W * fraction, 1)

    def y(self, reps: float) -> float:
        return round(TOP + PLOT_H * (1 - reps / self.y_max), 1)

    def local(self, at: dt.datetime, fmt: str) -> str:
        return at.astimezone(self.tz).strftime(fmt)


def progression_chart(
    *,
    side_label: str,
    sets: Sequence[ChartSet],
    steps: Sequence[ChartStep],
    start: dt.datetime,
    end: dt.datetime,
    ready_at_reps: int | None,
    tz: ZoneInfo,
    element_id: str,
) -> Chart:
    """Build the chart of one side between `start` and `end` (sets oldest first)."""
    frame = _Frame(
        start, end, tz, _nice_max(max([s.reps for s in sets] + [ready_at_reps or 0, 10]) + 2)
    )
    title = (
        f"{side_label} side: reps per set, {frame.local(start, '%d %b')} to "
        f"{frame.local(end, '%d %b %Y')}"
    )
    description = _describe(side_label, sets, steps, ready_at_reps, tz)
    points = format_html_join(
        "", "{}", ((_point(s, frame.x(s.performed_at), frame.y(s.reps), tz),) for s in sets)
    )
    drawing = format_html(
        '<rect class="plot" x="{}" y="{}" width="{}" height="{}"/>{}{}{}{}{}',
        LEFT,
        TOP,
        PLOT_W,
        PLOT_H,
        _y_grid(frame),
        _x_axis(frame),
        _target(frame, ready_at_reps),
        _step_marks(frame, steps),
        points,
    )
    svg = titled_svg(
        "chart", element_id, (WIDTH, HEIGHT), title, description, drawing, keep_aspect=True
    )
    return Chart(title, description, svg, sets, steps)


def _y_grid(frame: _Frame) -> SafeString:
    """Horizontal grid lines with their reps along the left."""
    y_step = 5 if frame.y_max <= 40 else 10
    return format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (LEFT, LEFT + PLOT_W, frame.y(v), frame.y(v), LEFT - 5, frame.y(v) + 4, v)
            for v in range(0, frame.y_max + 1, y_step)
        ),
    )


def _x_axis(frame: _Frame) -> SafeString:
    """Ticks and day labels along the bottom: daily, weekly (on Mondays) or four-weekly."""
    tick_days = _tick_days(frame.span / 86400)
    first_day = frame.start.astimezone(frame.tz).date()
    if tick_days == 7:  # weekly ticks on Mondays
        first_day += dt.timedelta(days=(7 - first_day.weekday()) % 7)
    # Each tick's line and label, in the order the format below places them.
    x_ticks: list[tuple[float, float, int, int, str, float, int, str]] = []
    day = first_day
    while True:
        at = dt.datetime.combine(day, dt.time.min, tzinfo=frame.tz)
        if at > frame.end:
            break
        if at >= frame.start:
            x = frame.x(at)
            # Every other label is "alt": a narrow screen hides those so the rest stay apart.
            alt = " alt" if len(x_ticks) % 2 else ""
            x_ticks.append(
                (x, x, TOP + PLOT_H, TOP + PLOT_H + 4, alt, x, HEIGHT - 8, f"{day:%d %b}")
            )
        day += dt.timedelta(days=tick_days)
    return format_html_join(
        "",
        '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="tick x{}" x="{}" y="{}" text-anchor="middle">{}</text>',
        x_ticks,
    )


def _target(frame: _Frame, ready_at_reps: int | None) -> SafeString | str:
    """The readiness line, where the side has a readiness threshold."""
    if not ready_at_reps:
        return ""
    y = frame.y(ready_at_reps)
    return format_html(
        '<line class="target" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="target-label" x="{}" y="{}">ready at {}</text>',
        LEFT,
        LEFT + PLOT_W,
        y,
        y,
        LEFT + 4,
        y - 4,
        ready_at_reps,
    )


def _step_marks(frame: _Frame, steps: Sequence[ChartStep]) -> SafeString:
    """A vertical line per stage change, labelled; labels alternate in height so that two close
    steps stay readable, and turn left near the right-hand edge."""
    return format_html_join(
        "",
        '<g class="step"><line x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text x="{}" y="{}" text-anchor="{}">{}</text><title>{} on {}</title></g>',
        (
            (
                frame.x(s.at),
                frame.x(s.at),
                TOP - 4 if i % 2 == 0 else TOP + 10,
                TOP + PLOT_H,
                frame.x(s.at) + (3 if frame.x(s.at) < LEFT + PLOT_W - 100 else -3),
                TOP - 8 if i % 2 == 0 else TOP + 8,
                "start" if frame.x(s.at) < LEFT + PLOT_W - 100 else "end",
                s.label,
                s.label,
                frame.local(s.at, "%d %b %Y"),
            )
            for i, s in enumerate(steps)
        ),
    )


def _point(s: ChartSet, cx: float, cy: float, tz: ZoneInfo) -> SafeString:
    label = (
        f"{s.performed_at.astimezone(tz):%d %b %H:%M}: {s.reps} reps, pain {s.pain}/10, "
        f"stage {s.stage}"
    )
    if s.pain_alert:
        # A different shape as well as a different colour: readable in greyscale print.
        d = f"M{cx},{cy - 6}L{cx + 6},{cy}L{cx},{cy + 6}L{cx - 6},{cy}Z"
        return format_html('<path class="point pain" d="{}"><title>{}</title></path>', d, label)
    return format_html(
        '<circle class="point" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>', cx, cy, label
    )


def _describe(
    side_label: str,
    sets: Sequence[ChartSet],
    steps: Sequence[ChartStep],
    ready_at_reps: int | None,
    tz: ZoneInfo,
) -> str:
    parts = []
    if sets:
        reps = [s.reps for s in sets]
        parts.append(
            f"{side_label} side: {len(sets)} set{'s' if len(sets) != 1 else ''}, "
            f"{min(reps)} to {max(reps)} reps"
            + (f" (ready at {ready_at_reps})" if ready_at_reps else "")
            + "."
        )
    else:
        parts.append(f"{side_label} side: no sets in this period.")
    if steps:
        parts.append(
            "Stage changes: "
            + "; ".join(f"{s.label.lstrip('↑↓ ')} on {s.at.astimezone(tz):%d %b}" for s in steps)
            + "."
        )
    painful = [s for s in sets if s.pain_alert]
    if painful:
        worst = max(painful, key=lambda s: s.pain)
        limits = {s.alert_above for s in painful}
        # One threshold is named; sets under prescriptions with different ones are "above their
        # alert threshold".
        above = (
            f"with pain above {next(iter(limits))}/10"
            if len(limits) == 1
            else "above their pain alert threshold"
        )
        parts.append(
            f"{len(painful)} set{'s' if len(painful) != 1 else ''} {above} (highest "
            f"{worst.pain}/10 on {worst.performed_at.astimezone(tz):%d %b})."
        )
    return " ".join(parts)
