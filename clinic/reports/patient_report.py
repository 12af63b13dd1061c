"""The per-patient progression report as its page shows it: one `PatientReport` of named sections
(the facts of its header, both sides, the tables), each built by its own function from the records
read once (`Records`) and the figures of `clinic.reports.patient_figures` (docs/reports.md).

One page holds what a referrer or a payer's file needs: who the patient is, both sides' ladder over
the period (stage steps with who decided, a chart, a per-stage summary), adherence (the
monitoring windows with their data days, sessions per Monday–Sunday week against the target), every
clearance note, and every set. Each table is a `csv_export.Table`, downloadable with
`?format=csv&table=<name>` (the same rows as on screen, spreadsheet-safe).

The period is in the clinic's calendar days; by default from the start of monitoring (the first
prescription's start day) to today.

Cost: a fixed number of queries however many sets there are (a test pins it). The patient's
prescriptions, stage changes, clearance notes and the sets of the period are read once each, the
days of the monitoring windows once, and the per-stage summary and the weekly sessions are one
aggregate each; only the sets table loads every set of the period, because it is the full record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django_stubs_ext import WithAnnotations

from clinic.charts.progression import Chart, ChartSet, ChartStep, progression_chart
from clinic.forms import display_name
from clinic.reports.csv_export import Table
from clinic.reports.patient_figures import (
    Period,
    StageRow,
    StepRow,
    note_rows,
    set_rows,
    stage_rows,
    step_rows,
    week_rows,
    window_rows,
)
from exercises.adherence import Window, discharge_day, monitoring_windows
from exercises.models import AlertThreshold, Prescription, SetLog, StageChange, ThresholdsInForce
from patients.clearance import ClearanceStatus, clearance_status
from patients.models import ClearanceNote, Patient, Side
from patients.thresholds import WINDOW_DAYS

# The column headings of each table (the CSV's header), in the order of its rows' fields.
STEP_COLUMNS = ("Date and time", "Side", "From stage", "To stage", "Change", "Decided by", "Note")
STAGE_COLUMNS = (
    "Side",
    "Stage",
    "Stage name",
    "Valid sets",
    "Days with a set",
    "Best reps within the pain ceiling",
    "Mean reps",
    "Highest pain",
    "Sets above the pain alert threshold",
    "First day",
    "Last day",
    "Voided sets (not counted)",
)
WINDOW_COLUMNS = ("First day", "Last day", "Days", "Data days", "Band", "Status", "The data days")
WEEK_COLUMNS = ("Side", "Monday", "Sunday", "Days in period", "Sessions", "Target", "Status")
NOTE_COLUMNS = (
    "Signed on",
    "Decision",
    "Procedure or injury",
    "Procedure or injury on",
    "Movement precautions",
    "Other restrictions",
    "Highest stage allowed",
    "Weight-bearing",
    "Signed by",
    "Credentials",
    "Review on",
    "Recorded by",
    "Recorded at",
    "Scanned copy",
    "Today",
)
SET_COLUMNS = (
    "Date and time",
    "Side",
    "Stage",
    "Reps",
    "Pain",
    "Effort",
    "Source",
    "Logged by",
    "Note",
    "Voided",
    "Void reason",
    "Above the pain alert threshold",
)


@dataclass(frozen=True)
class Records:
    """What the report reads of one patient, once: every section is made from these rows."""

    patient: Patient
    period: Period
    now: dt.datetime
    # The start of monitoring: the first prescription's start day (nothing is logged before one).
    monitoring_start: dt.date | None
    prescriptions: list[WithAnnotations[Prescription, ThresholdsInForce]]
    changes: list[StageChange]
    sets: list[WithAnnotations[SetLog, AlertThreshold]]
    notes: list[ClearanceNote]

    @property
    def today(self) -> dt.date:
        return self.patient.clinic.local_date(self.now)

    @property
    def tz(self) -> ZoneInfo:
        return self.period.tz


@dataclass(frozen=True)
class SideReport:
    side: str
    label: str
    current: Prescription | None
    last: Prescription | None
    stage_at_start: int | None
    steps: list[StepRow]
    stages: list[StageRow]
    chart: Chart | None


@dataclass(frozen=True)
class PatientReport:
    """The report for one patient and period, section by section."""

    patient: Patient
    period: Period
    monitoring_start: dt.date | None
    today: dt.date
    generated_at: dt.datetime
    generated_by: str
    clearance: ClearanceStatus
    sides: list[SideReport]
    tables: list[Table]

    def context(self) -> dict[str, Any]:
        """The template's names: every section, and each table by its name (`stage_summary`)."""
        clinic = self.patient.clinic
        return {
            "patient": self.patient,
            "clinic": clinic,
            "period": self.period,
            "monitoring_start": self.monitoring_start,
            "today": self.today,
            "generated_at": self.generated_at,
            "generated_by": self.generated_by,
            "clearance": self.clearance,
            "sides": self.sides,
            "tables": self.tables,
            **{t.name.replace("-", "_"): t for t in self.tables},
            "thresholds": clinic.thresholds,
        }


def build_patient_report(
    patient: Patient,
    first: dt.date | None,
    last: dt.date | None,
    *,
    now: dt.datetime,
    by: User,
) -> PatientReport:
    """The report of `patient` from `first` to `last` (clinic days; by default from the start of
    monitoring to today), generated at `now` by `by`."""
    records = _read(patient, first, last, now)
    tables = _tables(records)
    by_name = {t.name: t for t in tables}
    return PatientReport(
        patient=patient,
        period=records.period,
        monitoring_start=records.monitoring_start,
        today=records.today,
        generated_at=now,
        generated_by=display_name(by),
        sides=[_side(records, side, by_name) for side in Side.values],
        clearance=clearance_status(patient, records.today, records.notes),
        tables=tables,
    )


def _read(
    patient: Patient, first: dt.date | None, last: dt.date | None, now: dt.datetime
) -> Records:
    """The patient's prescriptions, stage changes and clearance notes, and the sets of the period
    (four queries); the period's days are settled here, once the start of monitoring is known."""
    clinic = patient.clinic
    today = clinic.local_date(now)
    prescriptions = list(
        Prescription.objects.filter(patient=patient)
        .with_thresholds()
        .select_related("stage")
        .order_by("started_at", "id")
    )
    monitoring_start = clinic.local_date(prescriptions[0].started_at) if prescriptions else None
    last = last or today
    period = Period(first or min(monitoring_start or today, last), last, clinic.tzinfo)
    return Records(
        patient,
        period,
        now,
        monitoring_start,
        prescriptions,
        changes=list(
            StageChange.objects.filter(patient=patient)
            .select_related("from_stage", "to_stage", "by")
            .order_by("at", "id")
        ),
        sets=list(
            SetLog.objects.filter(
                patient=patient, performed_at__gte=period.start, performed_at__lt=period.end
            )
            .with_alert_threshold()
            .select_related("stage", "logged_by")
            .order_by("performed_at", "id")
        ),
        notes=list(
            ClearanceNote.objects.filter(patient=patient)
            .newest_first()
            .select_related("recorded_by")
        ),
    )


def _windows(records: Records) -> list[Window]:
    """The one rule of monitoring windows (`exercises.adherence.monitoring_windows`): they stop at
    the end of the period (or today), so a report on a past period always reads the same, and at
    discharge; a window that began before the period is shown whole, from its first day."""
    if records.monitoring_start is None:
        return []
    period, tz = records.period, records.tz
    valid = SetLog.objects.valid().filter(patient=records.patient, performed_at__lt=period.end)
    return monitoring_windows(
        start=records.monitoring_start,
        days={s.performed_at.astimezone(tz).date() for s in valid.only("performed_at")},
        until=min(period.last, records.today),
        today=records.today,
        discharged_on=discharge_day(records.patient),
        from_day=period.first,
    )


def _tables(records: Records) -> list[Table]:
    """Every table of the report, in the order of the page."""
    patient, period, tz, today = records.patient, records.period, records.tz, records.today
    windows = _windows(records)
    steps = step_rows((c for c in records.changes if period.contains(c.at)), tz)
    return [
        Table("steps", "Stage steps", STEP_COLUMNS, steps),
        Table("stage-summary", "Per-stage summary", STAGE_COLUMNS, stage_rows(patient, period)),
        Table(
            "windows", f"{WINDOW_DAYS}-day monitoring windows", WINDOW_COLUMNS, window_rows(windows)
        ),
        Table(
            "weekly-sessions",
            "Sessions per week",
            WEEK_COLUMNS,
            week_rows(patient, period, records.monitoring_start, records.prescriptions, today),
        ),
        Table(
            "clearance-notes",
            "Clearance notes",
            NOTE_COLUMNS,
            note_rows(patient, records.notes, today, tz),
        ),
        Table("sets", "Sets", SET_COLUMNS, set_rows(records.sets, tz)),
    ]


def _side(records: Records, side: str, tables: dict[str, Table]) -> SideReport:
    """One side's section, from rows already read (no query here)."""
    label = Side(side).label
    own = [p for p in records.prescriptions if p.side == side]
    last = own[-1] if own else None
    before = [c for c in records.changes if c.side == side and c.at < records.period.start]
    return SideReport(
        side=side,
        label=label,
        current=next((p for p in own if p.ended_at is None), None),
        last=last,
        stage_at_start=(
            before[-1].to_stage.number if before and before[-1].to_stage is not None else None
        ),
        steps=[r for r in tables["steps"].rows if r.side == label],
        stages=[r for r in tables["stage-summary"].rows if r.side == label],
        chart=_chart(records, side, last),
    )


def _chart(
    records: Records, side: str, last: WithAnnotations[Prescription, ThresholdsInForce] | None
) -> Chart | None:
    """The side's progression chart over the period, or None when it has no valid set in it;
    `last` is the side's latest prescription, whose readiness reps the chart marks."""
    sets = [
        ChartSet(s.performed_at, s.reps, s.pain, s.stage.number, s.alert_threshold)
        for s in records.sets
        if s.side == side and not s.is_voided
    ]
    if not sets:
        return None
    period = records.period
    # From the start of monitoring at the earliest: a far-back `from` would squeeze every set into
    # the right-hand edge.
    start = period.start
    if records.monitoring_start:
        start = max(
            start, Period(records.monitoring_start, records.monitoring_start, period.tz).start
        )
    return progression_chart(
        side_label=Side(side).label,
        sets=sets,
        steps=[
            ChartStep.of(c) for c in records.changes if c.side == side and period.contains(c.at)
        ],
        start=start,
        end=min(period.end, records.now),
        # The prescription's own readiness reps (annotated by `with_thresholds`), else the clinic's.
        ready_at_reps=last.reps_threshold if last else records.patient.clinic.progress_at_reps,
        tz=period.tz,
        element_id=f"chart-{side}",
    )
