"""The figures of the per-patient progression report (`/reports/patients/<id>/`): one function per
table, each returning plain rows (the page and the CSV show the same values).

Counting (docs/reports.md, "Words used in every definition"): a *day* is a calendar day in the
clinic's time zone (`TruncDate(tzinfo=…)` in the database, so a set at 23:30 local time belongs to
that evening on SQLite and PostgreSQL alike); voided sets are listed but count for nothing. The
aggregates (the per-stage summary, the weekly sessions) are computed by the database, one query
each; the other rows are made from records the report has already read (`patient_report`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import Avg, Count, DateField, F, Max, Min, Q
from django.db.models.functions import TruncDate, TruncWeek

from clinic.forms import display_name
from exercises.adherence import Window, week_of
from exercises.models import Prescription, SetLog, StageChange, pain_ceiling_in_force
from patients.clearance import ClearanceState, clearance_status, note_in_effect
from patients.models import ClearanceNote, Decision, Patient, Side

# Who decided a step, or logged a set, when no person did (an automatic advance).
SYSTEM = "automatic (system)"


@dataclass(frozen=True)
class Period:
    """Clinic days `first` to `last` (inclusive), and the instants they span in the clinic's zone."""

    first: dt.date
    last: dt.date
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=self.tz)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the period (exclusive bound)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)

    def contains(self, at: dt.datetime) -> bool:
        return self.start <= at < self.end


# -- the rows of the tables (plain values: the page and the CSV show the same) -------------------


class StepRow(NamedTuple):
    at: dt.datetime
    side: str
    from_stage: int | None
    to_stage: int | None
    change: str
    decided_by: str
    note: str


class StageRow(NamedTuple):
    side: str
    stage: int
    stage_name: str
    sets: int
    days: int
    best_reps: int | None
    mean_reps: float | None
    max_pain: int | None
    painful: int
    first_day: dt.date | None
    last_day: dt.date | None
    voided: int


class WindowRow(NamedTuple):
    first: dt.date
    last: dt.date
    length: int
    data_days: int
    band: str
    status: str
    days: str


class WeekRow(NamedTuple):
    side: str
    monday: dt.date
    sunday: dt.date
    days_in_period: int
    sessions: int
    target: int
    status: str


class NoteRow(NamedTuple):
    signed_on: dt.date
    decision: str
    reason: str
    procedure_on: dt.date | None
    precautions: str
    restrictions: str
    max_stage: int | str
    weight_bearing: str
    signed_by: str
    credentials: str
    review_on: dt.date | None
    recorded_by: str
    recorded_at: dt.datetime
    scanned_copy: str
    today: str


class SetRow(NamedTuple):
    performed_at: dt.datetime
    side: str
    stage: int
    reps: int
    pain: int
    effort: int | None
    source: str
    logged_by: str
    note: str
    voided: bool
    void_reason: str
    above_alert: bool


# -- the figures ---------------------------------------------------------------------------------


def _name(user: User | None) -> str:
    return SYSTEM if user is None else display_name(user)


def _local(at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    # Whole seconds: a phone's microseconds mean nothing to a reader and clutter the CSV.
    return at.astimezone(tz).replace(microsecond=0)


def step_rows(changes: Iterable[StageChange], tz: ZoneInfo) -> list[StepRow]:
    return [
        StepRow(
            at=_local(c.at, tz),
            side=c.get_side_display(),
            from_stage=c.from_stage.number if c.from_stage else None,
            to_stage=c.to_stage.number if c.to_stage else None,
            change=c.get_reason_display(),
            decided_by=_name(c.by),
            note=c.note,
        )
        for c in changes
    ]


def stage_rows(patient: Patient, period: Period) -> list[StageRow]:
    """Per side and stage, in ONE aggregate query; voided sets counted apart, never in a figure."""
    day = TruncDate("performed_at", tzinfo=period.tz)
    valid = Q(voided_at__isnull=True)
    # Each set is judged by the thresholds in force for it: its prescription's, else the clinic's.
    within_ceiling = Q(pain__lte=pain_ceiling_in_force("prescription__"))
    rows = (
        SetLog.objects.filter(
            patient=patient, performed_at__gte=period.start, performed_at__lt=period.end
        )
        .with_alert_threshold()
        .values("side", "stage__number", "stage__name")
        .annotate(
            n=Count("pk", filter=valid),
            days=Count(day, filter=valid, distinct=True),
            best=Max("reps", filter=valid & within_ceiling),
            mean=Avg("reps", filter=valid),
            max_pain=Max("pain", filter=valid),
            painful=Count("pk", filter=valid & Q(pain__gt=F("alert_threshold"))),
            first_day=Min(day, filter=valid),
            last_day=Max(day, filter=valid),
            voided=Count("pk", filter=Q(voided_at__isnull=False)),
        )
        .order_by("side", "stage__number")
    )
    return [
        StageRow(
            side=Side(r["side"]).label,
            stage=r["stage__number"],
            stage_name=r["stage__name"],
            sets=r["n"],
            days=r["days"],
            best_reps=r["best"],
            # Rounded here so both databases print the same figure (PostgreSQL averages in numeric).
            mean_reps=round(float(r["mean"]), 1) if r["mean"] is not None else None,
            max_pain=r["max_pain"],
            painful=r["painful"],
            first_day=r["first_day"],
            last_day=r["last_day"],
            voided=r["voided"],
        )
        for r in rows
    ]


def days_text(days: Sequence[dt.date]) -> str:
    """Days grouped by month, e.g. "3, 4, 7 Nov 2026; 2 Dec 2026"."""
    return "; ".join(
        ", ".join(str(d.day) for d in in_month) + f" {month:%b %Y}"
        for month, group in itertools.groupby(days, key=lambda d: d.replace(day=1))
        for in_month in [list(group)]
    )


def window_rows(windows: Sequence[Window]) -> list[WindowRow]:
    return [
        WindowRow(
            first=w.first,
            last=w.until,
            length=w.length,
            data_days=w.data_days,
            band=w.band.label,
            status=w.status.label,
            days=days_text(w.days),
        )
        for w in windows
    ]


def week_rows(
    patient: Patient,
    period: Period,
    monitoring_start: dt.date | None,
    prescriptions: Sequence[Prescription],
    today: dt.date,
) -> list[WeekRow]:
    """Sessions (distinct clinic days with a valid set) per side and Monday–Sunday week, counted
    by the database, against the target of the side's prescription that week."""
    counted = (
        SetLog.objects.valid()
        .filter(patient=patient, performed_at__gte=period.start, performed_at__lt=period.end)
        .annotate(week=TruncWeek("performed_at", tzinfo=period.tz, output_field=DateField()))
        .values("side", "week")
        .annotate(sessions=Count(TruncDate("performed_at", tzinfo=period.tz), distinct=True))
        .order_by("side", "week")
    )
    sessions = {(r["side"], r["week"]): r["sessions"] for r in counted}
    if monitoring_start is None:
        return []
    rows = []
    for side in Side.values:
        # No week before monitoring began has a target: start there, not at a far-back `from`.
        monday = week_of(max(period.first, monitoring_start))[0]
        while monday <= period.last:
            sunday = monday + dt.timedelta(days=6)
            shown = Period(max(monday, period.first), min(sunday, period.last), period.tz)
            target = _target(prescriptions, side, shown)
            if target is not None:
                count = sessions.get((side, monday), 0)
                rows.append(_week_row(side, monday, shown, count, target, today))
            monday += dt.timedelta(weeks=1)
    return rows


def _target(prescriptions: Sequence[Prescription], side: str, week: Period) -> int | None:
    """The sessions per week of the side's latest prescription active during the week; a week
    with none on this side is not a week the patient was asked to exercise it."""
    return next(
        (
            p.sessions_per_week
            for p in reversed(prescriptions)
            if p.side == side
            and p.started_at < week.end
            and (p.ended_at is None or p.ended_at > week.start)
        ),
        None,
    )


def _week_row(
    side: str, monday: dt.date, shown: Period, count: int, target: int, today: dt.date
) -> WeekRow:
    """One week's row; `shown` is the part of the week inside the period."""
    in_period = (shown.last - shown.first).days + 1
    if count >= target:
        status = "met"
    elif shown.last >= today:
        status = "in progress"
    elif in_period < 7:
        status = "part week"
    else:
        status = "not met"
    sunday = monday + dt.timedelta(days=6)
    return WeekRow(Side(side).label, monday, sunday, in_period, count, target, status)


def note_rows(
    patient: Patient, notes: Sequence[ClearanceNote], today: dt.date, tz: ZoneInfo
) -> list[NoteRow]:
    in_effect = note_in_effect(notes, today)
    status = clearance_status(patient, today, notes)

    def today_text(note: ClearanceNote) -> str:
        if note is in_effect:
            if status.state == ClearanceState.LAPSED:
                return "in effect, lapsed (review date passed)"
            return "in effect"
        if note.signed_on > today:
            return "signed for a later date"
        return "superseded"

    return [
        NoteRow(
            signed_on=n.signed_on,
            decision=n.get_decision_display(),
            reason=n.reason,
            procedure_on=n.procedure_on,
            precautions=(
                f"{'; '.join(str(p.label) for p in n.precautions)} "
                f"({n.get_operated_side_display().lower()} hip)"
                if n.precautions
                else ""
            ),
            restrictions=n.restrictions,
            # Words, not a blank, where there is no number: "no limit" and "not cleared" differ.
            max_stage=n.max_stage or _no_stage_limit(n.decision),
            weight_bearing=n.get_weight_bearing_display(),
            signed_by=n.signed_by_name,
            credentials=n.signed_by_credentials,
            review_on=n.review_on,
            recorded_by=_name(n.recorded_by),
            recorded_at=_local(n.recorded_at, tz),
            scanned_copy=n.document_name if n.document else "",
            today=today_text(n),
        )
        for n in notes
    ]


def _no_stage_limit(decision: str) -> str:
    said: dict[str, str] = {
        Decision.NOT_CLEARED: "none (not cleared)",
        Decision.NOT_REQUIRED: "no limit (clearance no longer needed)",
    }
    return said.get(decision, "no limit")


def set_rows(sets: Sequence[SetLog], tz: ZoneInfo) -> list[SetRow]:
    return [
        SetRow(
            performed_at=_local(s.performed_at, tz),
            side=s.get_side_display(),
            stage=s.stage.number,
            reps=s.reps,
            pain=s.pain,
            effort=s.effort,
            source=s.get_source_display(),
            logged_by=_name(s.logged_by),
            note=s.note,
            voided=s.is_voided,
            void_reason=s.void_reason,
            above_alert=s.pain_alert,
        )
        for s in sets
    ]
