"""The clinic report's charts: grouped bars (counts) and a spread chart (days at each stage).

Like the progression chart (`clinic/charts/progression.py`): inline SVG drawn on the server, no script and no
library, a <title> and a <desc> that say in words what the picture shows, and the page puts the
same numbers in a table beside every chart. Bars carry their value as text, so a bar of length
zero still reads "0", and series differ by pattern as well as colour, for greyscale print.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from clinic.charts.svg import titled_svg

WIDTH = 520
LABEL_W = 150  # room for a group label left of the bars
BAR_H, BAR_GAP, GROUP_GAP = 16, 3, 12
TOP, BOTTOM, RIGHT = 30, 26, 40


@dataclass(frozen=True)
class ReportChart:
    title: str
    description: str
    svg: SafeString


def _nice_max(value: float) -> float:
    if value <= 5:
        return 5
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


PLOT_W = WIDTH - LABEL_W - RIGHT


@dataclass(frozen=True)
class _Axis:
    """The value axis across a report chart: from 0 at the labels' edge to `top` at the right."""

    top: float

    @classmethod
    def over(cls, values: Sequence[float]) -> _Axis:
        """An axis that holds every value, ending at a round number (at least 5)."""
        return cls(_nice_max(max([*values, 1])))

    def x(self, value: float) -> float:
        return round(LABEL_W + PLOT_W * value / self.top, 1)

    def grid(self, height: int) -> SafeString:
        """Vertical grid lines with their values along the bottom, at fifths of `top`."""
        return format_html_join(
            "",
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
            (
                (
                    self.x(t),
                    self.x(t),
                    TOP - 4,
                    height - BOTTOM,
                    self.x(t),
                    height - BOTTOM + 16,
                    _fmt(t),
                )
                for t in (self.top * i / 5 for i in range(6))
            ),
        )


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _chart(
    *, element_id: str, title: str, description: str, height: int, body: SafeString
) -> ReportChart:
    svg = titled_svg("chart report-chart", element_id, (WIDTH, height), title, description, body)
    return ReportChart(title, description, svg)


def bar_chart(
    *,
    element_id: str,
    title: str,
    description: str,
    groups: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
) -> ReportChart:
    """Horizontal bars: one group per row label, one bar per series in each group."""
    group_h = len(series) * (BAR_H + BAR_GAP) - BAR_GAP
    height = TOP + len(groups) * (group_h + GROUP_GAP) + BOTTOM
    axis = _Axis.over([v for _, values in groups for v in values])
    legend = format_html_join(
        "",
        '<rect class="bar s{}" x="{}" y="8" width="12" height="12"/>'
        '<text class="key" x="{}" y="18">{}</text>',
        ((i, LABEL_W + i * 150, LABEL_W + i * 150 + 16, name) for i, name in enumerate(series)),
    )
    bars = format_html_join(
        "",
        "{}",
        (
            (_group(axis, TOP + g * (group_h + GROUP_GAP), group_h, label, values, series),)
            for g, (label, values) in enumerate(groups)
        ),
    )
    return _chart(
        element_id=element_id,
        title=title,
        description=description,
        height=height,
        body=format_html("{}{}{}", legend if len(series) > 1 else "", axis.grid(height), bars),
    )


def _group(
    axis: _Axis,
    y0: float,
    group_h: int,
    label: str,
    values: Sequence[float],
    series: Sequence[str],
) -> SafeString:
    """One group's label, and its bars from the top at `y0`, each with its value as text."""
    return format_html(
        '<text class="group" x="{}" y="{}" text-anchor="end">{}</text>{}',
        LABEL_W - 8,
        y0 + group_h / 2 + 4,
        label,
        format_html_join(
            "",
            '<rect class="bar s{}" x="{}" y="{}" width="{}" height="{}">'
            "<title>{}: {} {}</title></rect>"
            '<text class="value" x="{}" y="{}">{}</text>',
            (
                (
                    i,
                    LABEL_W,
                    y0 + i * (BAR_H + BAR_GAP),
                    max(axis.x(value) - LABEL_W, 0),
                    BAR_H,
                    label,
                    series[i],
                    _fmt(value),
                    axis.x(value) + 4,
                    y0 + i * (BAR_H + BAR_GAP) + BAR_H - 4,
                    _fmt(value),
                )
                for i, value in enumerate(values)
            ),
        ),
    )


@dataclass(frozen=True)
class Spread:
    label: str
    shortest: float
    q1: float
    median: float
    q3: float
    longest: float
    n: int


def spread_chart(
    *, element_id: str, title: str, description: str, rows: Sequence[Spread], unit: str
) -> ReportChart:
    """One row per group: a line from shortest to longest, a box from the first to the third
    quartile, and a thick mark at the median, labelled with its value."""
    row_h = 34
    height = TOP + len(rows) * row_h + BOTTOM
    axis = _Axis.over([r.longest for r in rows])
    x = axis.x
    marks = format_html_join(
        "",
        '<g class="spread"><title>{label}: median {median} {unit}, middle half {q1}–{q3}, '
        "range {lo}–{hi} ({n} progressions)</title>"
        '<text class="group" x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
        '<line class="whisker" x1="{xlo}" x2="{xhi}" y1="{cy}" y2="{cy}"/>'
        '<rect class="box" x="{xq1}" y="{by}" width="{bw}" height="14"/>'
        '<line class="median" x1="{xm}" x2="{xm}" y1="{my1}" y2="{my2}"/>'
        '<text class="value" x="{vx}" y="{ty}">{median}</text></g>',
        (
            {
                "label": r.label,
                "median": _fmt(round(r.median, 1)),
                "unit": unit,
                "q1": _fmt(round(r.q1, 1)),
                "q3": _fmt(round(r.q3, 1)),
                "lo": _fmt(round(r.shortest, 1)),
                "hi": _fmt(round(r.longest, 1)),
                "n": r.n,
                "lx": LABEL_W - 8,
                "ty": TOP + i * row_h + 12,
                "xlo": x(r.shortest),
                "xhi": x(r.longest),
                "cy": TOP + i * row_h + 8,
                "xq1": x(r.q1),
                "by": TOP + i * row_h + 1,
                "bw": max(x(r.q3) - x(r.q1), 1),
                "xm": x(r.median),
                "my1": TOP + i * row_h - 2,
                "my2": TOP + i * row_h + 18,
                "vx": x(r.longest) + 6,
            }
            for i, r in enumerate(rows)
        ),
    )
    return _chart(
        element_id=element_id,
        title=title,
        description=description,
        height=height,
        body=format_html("{}{}", axis.grid(height), marks),
    )
