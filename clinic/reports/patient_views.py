"""The per-patient progression report (`/reports/patients/<id>/`): to print, file or send on.

One page holds what a referrer or a payer's file needs: who the patient is, both sides' ladder over
the period (stage steps with who decided, a chart, a per-stage summary), adherence (the
monitoring windows with their data days, sessions per Monday–Sunday week against the target), every
clearance note, and every set. Each table is a `csv_export.Table`, downloadable with
`?format=csv&table=<name>` (the same rows as on screen, spreadsheet-safe).

The period is `?from=YYYY-MM-DD&to=YYYY-MM-DD` in the clinic's calendar days; by default from the
start of monitoring (the first prescription's start day) to today. A bad date gets a 400 naming the
field, never a report for a period nobody asked for.

Counting (docs/reports.md, "Words used in every definition"): a *day* is a calendar day in the
clinic's time zone (`TruncDate(tzinfo=…)` in the database, so a set at 23:30 local time belongs to
that evening on SQLite and PostgreSQL alike); voided sets are listed but count for nothing. The
aggregates (the per-stage summary, the weekly sessions, the data days) are computed by the
database; only the sets table loads every set of the period, because it is the full record. Cost: a
fixed number of queries however many sets there are (a test pins it).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Avg, Count, DateField, F, Max, Min, Q
from django.db.models.functions import TruncDate, TruncWeek
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.audit.recording import report_access
from clinic.charts.progression import Chart, ChartSet, ChartStep, progression_chart
from clinic.reports.csv_export import Table, table_download, wants_csv
from exercises.adherence import Window, discharge_day, monitoring_windows, week_of
from exercises.models import Prescription, SetLog, StageChange, pain_ceiling_in_force
from patients.access import is_clinic_staff, staff_patient_for_user
from patients.access_events import recorded
from patients.clearance import ClearanceState, clearance_status, note_in_effect
from patients.models import ClearanceNote, Decision, Patient, Side
from patients.thresholds import WINDOW_DAYS

SYSTEM = "automatic (system)"


# -- the period ----------------------------------------------------------------------------------


# Far enough back for any record; earlier dates only risk calendar overflow at the zone's edge.
EARLIEST = dt.date(1900, 1, 1)


class PeriodForm(forms.Form):
    """`from` and `to`, both optional, as ISO dates (clinic days). Named like the URL parameters:
    `from` is a Python keyword, so the fields are added in `__init__`."""

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                # One unambiguous format: 03/11 is March in one country and November in another.
                input_formats=["%Y-%m-%d"],
                error_messages={"invalid": "enter a real date as YYYY-MM-DD, e.g. 2026-11-03."},
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("from", "to"):
            day = data.get(name)
            if day is not None and day < EARLIEST:
                self.add_error(name, f"{day:%Y-%m-%d} is before {EARLIEST:%Y-%m-%d}.")
            elif day is not None and day > self.today:
                # A report states what happened; a period into the future would read as complete.
                self.add_error(
                    name,
                    f"{day:%Y-%m-%d} is after today ({self.today:%Y-%m-%d} in the clinic's "
                    f"time zone).",
                )
        first, last = self.cleaned_data.get("from"), self.cleaned_data.get("to")
        if first and last and first > last:
            self.add_error(
                "from",
                f"{first:%Y-%m-%d} is after to ({last:%Y-%m-%d}); the period must start on or "
                f"before its last day.",
            )
        return self.cleaned_data

    def messages(self) -> list[str]:
        """One line per error, each naming its field: `from: …`."""
        return [f"{name}: {error}" for name, errors in self.errors.items() for error in errors]


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


# -- the view ------------------------------------------------------------------------------------


@require_GET
@requires(is_clinic_staff)
def patient_report(request: HttpRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    tz = patient.clinic.tzinfo
    with timezone.override(tz):
        form = PeriodForm(request.GET, today=patient.clinic.local_date(timezone.now()))
        if not form.is_valid():
            if wants_csv(request):
                return HttpResponseBadRequest(
                    "\n".join(form.messages()), content_type="text/plain; charset=utf-8"
                )
            context = {"patient": patient, "form": form, "errors": form.messages()}
            return render(request, "clinic/reports/patient_report.html", context, status=400)
        context = _report(request, patient, form.cleaned_data["from"], form.cleaned_data["to"])
        if wants_csv(request):
            return recorded(
                table_download(request, context["tables"], f"{patient.record_number}-progression"),
                **report_access(request, context["period"], patient=patient),
            )
        return recorded(
            render(request, "clinic/reports/patient_report.html", context),
            **report_access(request, context["period"], patient=patient),
        )


def _report(
    request: HttpRequest, patient: Patient, first: dt.date | None, last: dt.date | None
) -> dict[str, Any]:
    clinic = patient.clinic
    tz = clinic.tzinfo
    now = timezone.now()
    today = clinic.local_date(now)

    prescriptions = list(
        Prescription.objects.filter(patient=patient)
        .with_thresholds()
        .select_related("stage")
        .order_by("started_at", "id")
    )
    # Start of monitoring: the first prescription's start day (nothing is logged before one).
    monitoring_start = clinic.local_date(prescriptions[0].started_at) if prescriptions else None
    last = last or today
    first = first or min(monitoring_start or today, last)
    period = Period(first, last, tz)

    changes = list(
        StageChange.objects.filter(patient=patient)
        .select_related("from_stage", "to_stage", "by")
        .order_by("at", "id")
    )
    sets = list(
        SetLog.objects.filter(
            patient=patient, performed_at__gte=period.start, performed_at__lt=period.end
        )
        .with_alert_threshold()
        .select_related("stage", "logged_by")
        .order_by("performed_at", "id")
    )
    notes = list(
        ClearanceNote.objects.filter(patient=patient).newest_first().select_related("recorded_by")
    )
    # The one rule of monitoring windows (`exercises.adherence.monitoring_windows`): they stop at
    # the end of the period (or today), so a report on a past period always reads the same, and
    # at discharge; a window that began before the period is shown whole, from its first day.
    windows = (
        monitoring_windows(
            start=monitoring_start,
            days={s.performed_at.astimezone(tz).date() for s in _valid_before(patient, last, tz)},
            until=min(last, today),
            today=today,
            discharged_on=discharge_day(patient),
            from_day=first,
        )
        if monitoring_start
        else []
    )

    tables = [
        Table(
            "steps",
            "Stage steps",
            (
                "Date and time",
                "Side",
                "From stage",
                "To stage",
                "Change",
                "Decided by",
                "Note",
            ),
            _step_rows((c for c in changes if period.contains(c.at)), tz),
        ),
        Table(
            "stage-summary",
            "Per-stage summary",
            (
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
            ),
            _stage_rows(patient, period),
        ),
        Table(
            "windows",
            f"{WINDOW_DAYS}-day monitoring windows",
            ("First day", "Last day", "Days", "Data days", "Band", "Status", "The data days"),
            _window_rows(windows),
        ),
        Table(
            "weekly-sessions",
            "Sessions per week",
            (
                "Side",
                "Monday",
                "Sunday",
                "Days in period",
                "Sessions",
                "Target",
                "Status",
            ),
            _week_rows(patient, period, monitoring_start, prescriptions, today),
        ),
        Table(
            "clearance-notes",
            "Clearance notes",
            (
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
            ),
            _note_rows(patient, notes, today, tz),
        ),
        Table(
            "sets",
            "Sets",
            (
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
            ),
            _set_rows(sets, tz),
        ),
    ]
    by_name = {t.name: t for t in tables}
    sides = _sides(patient, period, monitoring_start, prescriptions, changes, sets, by_name, now)
    return {
        "patient": patient,
        "clinic": clinic,
        "form": PeriodForm(initial={"from": first, "to": last}, today=today),
        "period": period,
        "monitoring_start": monitoring_start,
        "today": today,
        "generated_at": now,
        "generated_by": _name(request.user),
        "clearance": clearance_status(patient, today, notes),
        "sides": sides,
        "tables": tables,
        **{t.name.replace("-", "_"): t for t in tables},
        "thresholds": clinic.thresholds,
    }


# -- the figures ---------------------------------------------------------------------------------


def _name(user: Any) -> str:
    if user is None:
        return SYSTEM
    return user.get_full_name() or user.get_username()


def _local(at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    # Whole seconds: a phone's microseconds mean nothing to a reader and clutter the CSV.
    return at.astimezone(tz).replace(microsecond=0)


def _step_rows(changes: Iterable[StageChange], tz: ZoneInfo) -> list[StepRow]:
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


def _stage_rows(patient: Patient, period: Period) -> list[StageRow]:
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
        ", ".join(str(d.day) for d in group) + f" {month:%b %Y}"
        for month, group in itertools.groupby(days, key=lambda d: d.replace(day=1))
        for group in [list(group)]
    )


def _window_rows(windows: Sequence[Window]) -> list[WindowRow]:
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


def _week_rows(
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
            # The target is that of the side's latest prescription active during the week; a week
            # with none on this side is not a week the patient was asked to exercise it.
            target = next(
                (
                    p.sessions_per_week
                    for p in reversed(prescriptions)
                    if p.side == side
                    and p.started_at < shown.end
                    and (p.ended_at is None or p.ended_at > shown.start)
                ),
                None,
            )
            if target is not None:
                count = sessions.get((side, monday), 0)
                in_period = (shown.last - shown.first).days + 1
                if count >= target:
                    status = "met"
                elif shown.last >= today:
                    status = "in progress"
                elif in_period < 7:
                    status = "part week"
                else:
                    status = "not met"
                rows.append(
                    WeekRow(Side(side).label, monday, sunday, in_period, count, target, status)
                )
            monday += dt.timedelta(weeks=1)
    return rows


def _note_rows(
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
    return {
        Decision.NOT_CLEARED: "none (not cleared)",
        Decision.NOT_REQUIRED: "no limit (clearance no longer needed)",
    }.get(decision, "no limit")


def _set_rows(sets: Sequence[SetLog], tz: ZoneInfo) -> list[SetRow]:
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


def _sides(
    patient: Patient,
    period: Period,
    monitoring_start: dt.date | None,
    prescriptions: Sequence[Prescription],
    changes: Sequence[StageChange],
    sets: Sequence[SetLog],
    tables: dict[str, Table],
    now: dt.datetime,
) -> list[SideReport]:
    """Both sides, left then right, from rows already loaded (no query here)."""
    by_side: dict[str, list[ChartSet]] = defaultdict(list)
    for s in sets:
        if not s.is_voided:
            by_side[s.side].append(
                ChartSet(s.performed_at, s.reps, s.pain, s.stage.number, s.alert_threshold)
            )
    reports = []
    for side in Side.values:
        label = Side(side).label
        own = [p for p in prescriptions if p.side == side]
        current = next((p for p in own if p.ended_at is None), None)
        last = own[-1] if own else None
        before = [c for c in changes if c.side == side and c.at < period.start]
        stage_at_start = (
            before[-1].to_stage.number if before and before[-1].to_stage is not None else None
        )
        in_period = [c for c in changes if c.side == side and period.contains(c.at)]
        chart = None
        if by_side[side]:
            threshold = last.reps_threshold if last else patient.clinic.progress_at_reps  # type: ignore[attr-defined]
            chart = progression_chart(
                side_label=label,
                sets=by_side[side],
                steps=[ChartStep.of(c) for c in in_period],
                # From the start of monitoring at the earliest: a far-back `from` would squeeze
                # every set into the right-hand edge.
                start=max(period.start, Period(monitoring_start, monitoring_start, period.tz).start)
                if monitoring_start
                else period.start,
                end=min(period.end, now),
                ready_at_reps=threshold,
                tz=period.tz,
                element_id=f"chart-{side}",
            )
        reports.append(
            SideReport(
                side=side,
                label=label,
                current=current,
                last=last,
                stage_at_start=stage_at_start,
                steps=[r for r in tables["steps"].rows if r.side == label],
                stages=[r for r in tables["stage-summary"].rows if r.side == label],
                chart=chart,
            )
        )
    return reports


def _valid_before(patient: Patient, last: dt.date, tz: ZoneInfo) -> Sequence[SetLog]:
    """The patient's valid sets up to the end of `last` (clinic day): the days of the windows."""
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return SetLog.objects.valid().filter(patient=patient, performed_at__lt=end).only("performed_at")
