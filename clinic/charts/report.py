"""The clinic report's charts: grouped bars (counts) and a spread chart (days at each stage).

Like the progression chart (`clinic/charts/progression.py`): inline SVG drawn on the server, no script and no
library, a <title> and a <desc> that say in words what the picture shows, and the page puts the
same numbers in a table beside every chart. Bars carry their value as text, so a bar of length
zero still reads "0", and series differ by pattern as well as colour, for greyscale print.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

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


def _x_grid(x: Callable[[float], float], top: float, height: int) -> SafeString:
    """Vertical grid lines with their values along the bottom, at fifths of `top`."""
    return format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (x(t), x(t), TOP - 4, height - BOTTOM, x(t), height - BOTTOM + 16, _fmt(t))
            for t in (top * i / 5 for i in range(6))
        ),
    )


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def bar_chart(
    *,
    element_id: str,
    title: str,
    description: str,
    groups: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
) -> ReportChart:
    """Horizontal bars: one group per row label, one bar per series in each group."""
    plot_w = WIDTH - LABEL_W - RIGHT
    group_h = len(series) * (BAR_H + BAR_GAP) - BAR_GAP
    height = TOP + len(groups) * (group_h + GROUP_GAP) + BOTTOM
    top = _nice_max(max([v for _, values in groups for v in values] + [1]))

    def x(value: float) -> float:
        return round(LABEL_W + plot_w * value / top, 1)

    grid = _x_grid(x, top, height)
    legend = format_html_join(
        "",
        '<rect class="bar s{}" x="{}" y="8" width="12" height="12"/>'
        '<text class="key" x="{}" y="18">{}</text>',
        ((i, LABEL_W + i * 150, LABEL_W + i * 150 + 16, name) for i, name in enumerate(series)),
    )
    bars = []
    for g, (label, values) in enumerate(groups):
        y0 = TOP + g * (group_h + GROUP_GAP)
        bars.append(
            format_html(
                '<text class="group" x="{}" y="{}" text-anchor="end">{}</text>',
                LABEL_W - 8,
                y0 + group_h / 2 + 4,
                label,
            )
        )
        for i, value in enumerate(values):
            y = y0 + i * (BAR_H + BAR_GAP)
            bars.append(
                format_html(
                    '<rect class="bar s{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}: {} {}</title></rect>"
                    '<text class="value" x="{}" y="{}">{}</text>',
                    i,
                    LABEL_W,
                    y,
                    max(x(value) - LABEL_W, 0),
                    BAR_H,
                    label,
                    series[i],
                    _fmt(value),
                    x(value) + 4,
                    y + BAR_H - 4,
                    _fmt(value),
                )
            )
    svg = format_html(
        '<svg class="chart report-chart" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        "{legend}{grid}{bars}</svg>",
        id=element_id,
        w=WIDTH,
        h=height,
        title=title,
        desc=description,
        legend=legend if len(series) > 1 else "",
        grid=grid,
        bars=SafeString("".join(bars)),
    )
    return ReportChart(title, description, svg)


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
    plot_w = WIDTH - LABEL_W - RIGHT
    row_h = 34
    height = TOP + len(rows) * row_h + BOTTOM
    top = _nice_max(max([r.longest for r in rows] + [1]))

    def x(value: float) -> float:
        return round(LABEL_W + plot_w * value / top, 1)

    grid = _x_grid(x, top, height)
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
    svg = format_html(
        '<svg class="chart report-chart" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        "{grid}{marks}</svg>",
        id=element_id,
        w=WIDTH,
        h=height,
        title=title,
        desc=description,
        grid=grid,
        marks=marks,
    )
    return ReportChart(title, description, svg)
