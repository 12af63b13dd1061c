"""The clinic report's charts: which figures are drawn, and the words that say what each shows.

The drawing is `clinic.charts.report` (inline SVG, a title and a description for a screen reader);
the page puts the same numbers in a table beside every chart (`clinic.reports.clinic_report`).
"""

from __future__ import annotations

from collections.abc import Sequence

from clinic.charts.report import ReportChart, Spread, bar_chart, spread_chart
from clinic.reports import clinic_figures as figures
from clinic.reports.clinic_figures import Scope
from clinic.reports.csv_export import Table


def stage_moments(scope: Scope) -> tuple[str, str]:
    """The two days the stages are counted on: the range's first, and its last or today."""
    return f"{scope.first:%d %b}", f"{min(scope.last, scope.today):%d %b}"


def stages_chart(scope: Scope, distribution: Sequence[figures.StageCount]) -> ReportChart:
    """Patients per stage and side, at the start and at the end of the range, as bar pairs."""
    at_start, at_end = stage_moments(scope)
    return bar_chart(
        element_id="chart-stages",
        title=f"Patients per stage and side, {at_start} and {at_end}",
        description=" ".join(
            f"Stage {c.stage.number} {c.side}: {c.at_start} then {c.at_end}." for c in distribution
        ),
        groups=[
            (f"Stage {c.stage.number}, {c.side}", (c.at_start, c.at_end)) for c in distribution
        ],
        series=[f"At start ({at_start})", f"At end ({at_end})"],
    )


def time_at_stage_chart(spent: Sequence[figures.StageTime]) -> ReportChart:
    """Days at each stage before progressing: the spread and median per stage."""
    return spread_chart(
        element_id="chart-time-at-stage",
        title="Days at each stage before progressing",
        description=" ".join(
            f"Stage {t.stage.number}: median {t.median:.1f} days, middle half "
            f"{t.q1:.1f} to {t.q3:.1f}, {t.progressions} progressions."
            for t in spent
        ),
        rows=[
            Spread(
                f"Stage {t.stage.number}",
                t.shortest,
                t.q1,
                t.median,
                t.q3,
                t.longest,
                t.progressions,
            )
            for t in spent
        ],
        unit="days",
    )


def bands_chart(bands: Table) -> ReportChart:
    """Monitoring windows per data-day band, drawn from the rows of the `bands` table itself, so
    the picture and the table beside it cannot disagree."""
    return bar_chart(
        element_id="chart-bands",
        title="Monitoring windows per data-day band",
        description=" ".join(
            f"{label}: {n_ended} ended, {n_open} still open."
            for label, n_ended, n_open in bands.rows
        ),
        groups=[(label, (n_ended, n_open)) for label, n_ended, n_open in bands.rows],
        series=["Ended in the range", "Still open (so far)"],
    )
