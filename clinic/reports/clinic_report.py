"""The clinic report as its page shows it: one `Report` of named sections (progression, readiness
backlog, pain, adherence, clearance), each built by its own function from the figures of
`clinic.reports.clinic_figures` (defined in docs/reports.md).

A section holds its tables (each downloadable as CSV), its charts (`clinic_charts`) and its figures
for the summary at the top of the page. Nothing here queries the database but the figures: the
page costs their fixed number of queries, whatever the number of patients (pinned by
`test_the_report_costs_the_same_queries_for_2_or_12_patients`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clinic.charts.report import ReportChart
from clinic.reports import clinic_figures as figures
from clinic.reports.clinic_charts import (
    bands_chart,
    stage_moments,
    stages_chart,
    time_at_stage_chart,
)
from clinic.reports.clinic_figures import Scope
from clinic.reports.csv_export import Table
from clinic.reports.tables import Pager, Shown
from exercises.adherence import AdherenceBand
from exercises.models import ChangeReason
from patients.models import Side
from patients.thresholds import WINDOW_DAYS


@dataclass(frozen=True)
class Section:
    """One part of the page: its tables in page order, its charts, its figures for the summary."""

    tables: dict[str, Shown]
    charts: dict[str, ReportChart] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """The clinic report for one scope, section by section in the order of the page."""

    scope: Scope
    progression: Section
    backlog: Section
    pain: Section
    adherence: Section
    clearance: Section

    @property
    def sections(self) -> tuple[Section, ...]:
        return (self.progression, self.backlog, self.pain, self.adherence, self.clearance)

    @property
    def tables(self) -> dict[str, Shown]:
        """Every table by name, in the order of the page."""
        return {name: shown for s in self.sections for name, shown in s.tables.items()}

    @property
    def charts(self) -> dict[str, ReportChart]:
        return {name: chart for s in self.sections for name, chart in s.charts.items()}

    @property
    def summary(self) -> dict[str, int]:
        """The figures at a glance, at the top of the page."""
        return {name: n for s in self.sections for name, n in s.summary.items()}

    @property
    def all_tables(self) -> list[Table]:
        """What the CSV downloads hold: every row of every table."""
        return [shown.table for shown in self.tables.values()]


def build_report(scope: Scope, pages: Mapping[str, Any] | None = None) -> Report:
    """The report's figures, tables and charts; `pages` holds the page asked for of each long
    table (the request's query: `page_<table>=N`)."""
    pager = Pager(pages or {})
    return Report(
        scope,
        progression=_progression(scope, pager),
        backlog=_backlog(scope, pager),
        pain=_pain(scope, pager),
        adherence=_adherence(scope, pager),
        clearance=_clearance(scope, pager),
    )


def _one(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _side(side: str) -> str:
    return Side(side).label


# -- progression -------------------------------------------------------------------------------


def _progression(scope: Scope, pager: Pager) -> Section:
    distribution = figures.stage_distribution(scope)
    changes = figures.changes_by_reason(scope)
    spent = figures.time_at_stage(scope)
    charts = {"stages": stages_chart(scope, distribution)}
    if spent:
        charts["time_at_stage"] = time_at_stage_chart(spent)
    changes_table = Table(
        "changes",
        "Stage changes in the range",
        ("Change", "Count"),
        [(ChangeReason(reason).label, n) for reason, n in changes.items()],
    )
    return Section(
        tables={
            "stages": pager.show(_stages_table(scope, distribution), "No stages."),
            "changes": pager.show(changes_table, "No stage changes."),
            "time_at_stage": pager.show(
                _time_at_stage_table(spent), "No one progressed in this range."
            ),
        },
        charts=charts,
        summary={
            "progressed": changes[ChangeReason.PROGRESSED],
            "regressed": changes[ChangeReason.REGRESSED],
            "stopped": changes[ChangeReason.STOPPED],
        },
    )


def _stages_table(scope: Scope, distribution: Sequence[figures.StageCount]) -> Table:
    at_start, at_end = stage_moments(scope)
    return Table(
        "stages",
        "Patients per stage and side",
        ("Stage", "Side", f"At start ({at_start})", f"At end ({at_end})", "Change"),
        [
            (f"{c.stage.number}: {c.stage.name}", _side(c.side), c.at_start, c.at_end, c.change)
            for c in distribution
        ],
    )


def _time_at_stage_table(spent: Sequence[figures.StageTime]) -> Table:
    return Table(
        "time_at_stage",
        "Days at a stage before progressing",
        ("Stage", "Progressions", "Shortest", "25th pct", "Median", "75th pct", "Longest"),
        [
            (
                f"Stage {t.stage.number}",
                t.progressions,
                *(_one(days) for days in (t.shortest, t.q1, t.median, t.q3, t.longest)),
            )
            for t in spent
        ],
    )


# -- readiness backlog -------------------------------------------------------------------------


def _backlog(scope: Scope, pager: Pager) -> Section:
    backlog = figures.readiness_backlog(scope)
    table = Table(
        "backlog",
        f"Ready to progress for more than {scope.ready_days} days",
        ("Patient", "Record", "Side", "Stage", "Ready since", "Days waiting", "Next step"),
        [
            (
                w.patient.full_name,
                w.patient.record_number,
                _side(w.prescription.side),
                w.prescription.stage.number,
                scope.clinic.local_date(w.ready_since),
                w.days,
                f"Stage {w.next_stage.number}" if w.next_stage else "Ladder complete",
            )
            for w in backlog
        ],
    )
    return Section(
        tables={
            "backlog": pager.show(
                table, "No readiness has waited that long.", [w.patient for w in backlog]
            )
        },
        summary={"backlog": len(backlog)},
    )


# -- pain --------------------------------------------------------------------------------------


def _pain(scope: Scope, pager: Pager) -> Section:
    pain = figures.pain(scope)
    above = scope.clinic.pain_alert_above
    totals = Table(
        "pain",
        "Pain in the range",
        ("Figure", "Value"),
        [
            ("Valid sets logged", pain.sets),
            (f"Sets above the pain alert threshold (clinic: above {above}/10)", pain.painful_sets),
            ("Patients with such a set", pain.painful_patients),
            ("Sides with an open pain alert now", len(pain.open_alerts)),
        ],
    )
    return Section(
        tables={
            "pain": pager.show(totals, ""),
            "pain_alerts": pager.show(
                _pain_alerts_table(scope, pain.open_alerts),
                "No open pain alerts.",
                [p.patient for p in pain.open_alerts],
            ),
        },
        summary={"painful_sets": pain.painful_sets, "pain_alerts": len(pain.open_alerts)},
    )


def _pain_alerts_table(scope: Scope, alerts: Sequence[figures.OpenPainAlert]) -> Table:
    return Table(
        "pain_alerts",
        "Open pain alerts (painful sets not yet reviewed by a therapist)",
        ("Patient", "Record", "Side", "Stage", "Highest pain", "On", "Sets not reviewed"),
        [
            (
                p.patient.full_name,
                p.patient.record_number,
                _side(p.side),
                p.alert.stage,
                p.alert.highest_pain,
                scope.clinic.local_date(p.alert.highest_at),
                p.alert.sets,
            )
            for p in alerts
        ],
    )


# -- adherence ---------------------------------------------------------------------------------


def _adherence(scope: Scope, pager: Pager) -> Section:
    sessions = figures.sessions_per_week(scope)
    windows = figures.monitoring_windows(scope)
    judged = [s for s in sessions if s.judged]
    ended = [w for w in windows if w.ended and w.last >= scope.first]
    bands = _bands_table(ended, [w for w in windows if not w.ended])
    return Section(
        tables={
            "sessions": pager.show(
                _sessions_table(sessions),
                "No side was prescribed in this range.",
                [s.patient for s in sessions],
            ),
            "windows": pager.show(
                _windows_table(windows),
                "No one was monitored in this range.",
                [w.patient for w in windows],
            ),
            "bands": pager.show(bands, ""),
        },
        charts={"bands": bands_chart(bands)},
        summary={
            "sides_judged": len(judged),
            "sides_met": sum(1 for s in judged if s.met),
            "ended_windows": len(ended),
            "ended_16_plus": sum(1 for w in ended if w.band == AdherenceBand.DAYS_16_30),
        },
    )


def _sessions_table(sessions: Sequence[figures.SideSessions]) -> Table:
    return Table(
        "sessions",
        "Sessions per week against target, per side",
        (
            "Patient",
            "Record",
            "Side",
            "Sessions",
            "Days prescribed",
            "Sessions per week",
            "Target per week",
            "Target met",
        ),
        [
            (
                s.patient.full_name,
                s.patient.record_number,
                _side(s.side),
                s.sessions,
                _one(s.days_prescribed),
                _one(s.per_week),
                _one(s.target),
                s.met,
            )
            for s in sessions
        ],
    )


def _windows_table(windows: Sequence[figures.MonitoringWindow]) -> Table:
    return Table(
        "windows",
        f"Monitoring windows ({WINDOW_DAYS} days from the start of monitoring)",
        ("Patient", "Record", "Window", "First day", "Last day", "Data days", "Band", "Status"),
        [
            (
                w.patient.full_name,
                w.patient.record_number,
                w.number,
                w.first,
                w.last,
                w.data_days,
                w.band.label,
                w.status.label,
            )
            for w in windows
        ],
    )


def _bands_table(
    ended: Sequence[figures.MonitoringWindow], still_open: Sequence[figures.MonitoringWindow]
) -> Table:
    """Windows per data-day band: those that ended in the range, and those still open."""
    return Table(
        "bands",
        "Monitoring windows per data-day band",
        ("Data days", "Windows ended in the range", "Windows still open (so far)"),
        [
            (
                band.label,
                sum(1 for w in ended if w.band == band),
                sum(1 for w in still_open if w.band == band),
            )
            for band in AdherenceBand
        ],
    )


# -- clearance ---------------------------------------------------------------------------------


def _clearance(scope: Scope, pager: Pager) -> Section:
    clearance = figures.clearance(scope)
    waiting = Table(
        "clearance_waiting",
        "Waiting for clearance",
        ("Patient", "Record", "Why"),
        [(p.full_name, p.record_number, why) for p, why in clearance.waiting],
    )
    review = Table(
        "clearance_review",
        f"Clearances due for review within {scope.clinic.review_soon_days} days",
        ("Patient", "Record", "Review on", "Signed by"),
        [
            (
                p.full_name,
                p.record_number,
                note.review_on,
                f"{note.signed_by_name} ({note.signed_by_credentials})",
            )
            for p, note in clearance.due_for_review
        ],
    )
    return Section(
        tables={
            "clearance_waiting": pager.show(
                waiting, "No one is waiting for clearance.", [p for p, _ in clearance.waiting]
            ),
            "clearance_review": pager.show(
                review, "No clearance is due for review.", [p for p, _ in clearance.due_for_review]
            ),
        },
        summary={
            "waiting": len(clearance.waiting),
            "due_for_review": len(clearance.due_for_review),
        },
    )
