"""The figures of the clinic report (`/reports/`): progression, readiness, pain, adherence and
clearance for one clinic, a date range and optionally one therapist's caseload.

Every figure is defined in one sentence in docs/reports.md; the definitions there and the code here
must change together. The database does the counting: each figure is one grouped query (distinct
calendar days, counts by stage and side, the ranks that give medians), so the number of queries is
fixed whatever the number of patients or sets, and nothing loads every set into Python. What comes
back is one row per group (stage, side, patient window), never one per set.

Days are calendar days in the clinic's time zone, as everywhere else (`exercises.adherence`). The
range runs from the first day's midnight to the midnight after the last day, clinic time; figures
"at the end of the range" are taken at that moment or now, whichever is earlier.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    Value,
    Window,
)
from django.db.models.functions import Abs, Coalesce, Greatest, Least, RowNumber, TruncDate

from exercises import adherence
from exercises.models import (
    ChangeReason,
    Prescription,
    SetLog,
    Stage,
    StageChange,
)
from exercises.progression import PainAlert, next_stages, open_pain_alerts, ready_since
from patients.clearance import ClearanceState, clearance_status
from patients.models import ClearanceNote, Clinic, Patient, Side
from patients.thresholds import MIN_DAYS_TO_JUDGE, READY_BACKLOG_DAYS, WINDOW_DAYS

# A readiness nobody has acted on for longer than this is a backlog (the report lets staff change it).
DEFAULT_READY_DAYS = READY_BACKLOG_DAYS
# Quartiles of "days at a stage", by linear interpolation (PostgreSQL's percentile_cont, Python's
# statistics.quantiles(method="inclusive")).
QUARTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Scope:
    """Whose figures, over which days."""

    clinic: Clinic
    first: dt.date
    last: dt.date
    now: dt.datetime
    therapist: AbstractBaseUser | None = None
    ready_days: int = DEFAULT_READY_DAYS

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=self.clinic.tzinfo)

    @property
    def end(self) -> dt.datetime:
        """The moment the range ends: the midnight after its last day, or now if that is sooner."""
        after = dt.datetime.combine(
            self.last + dt.timedelta(days=1), dt.time.min, tzinfo=self.clinic.tzinfo
        )
        return min(after, self.now)

    @property
    def today(self) -> dt.date:
        return self.clinic.local_date(self.now)

    def patients(self, prefix: str = "") -> Q:
        """The patients in scope, as a filter on a model that reaches Patient through `prefix`."""
        q = Q(**{f"{prefix}clinic": self.clinic})
        if self.therapist is not None:
            q &= Q(**{f"{prefix}primary_therapist": self.therapist})
        return q

    def local_day(self, name: str = "performed_at") -> TruncDate:
        return TruncDate(name, tzinfo=self.clinic.tzinfo)

    @functools.cached_property
    def logged_days(self) -> dict[tuple[int, str], set[dt.date]]:
        """The clinic days with a valid set, per patient and side, from 29 days before the range
        (the earliest day of a monitoring window that overlaps it) to its end.

        Both adherence figures count these days (sessions per side in the range, data days per
        monitoring window), so they are read once, one row per patient, side and day: the
        database does the time-zone arithmetic once per set, not once per figure. Read on first
        use and kept with the scope, which lives for one report.
        """
        days: dict[tuple[int, str], set[dt.date]] = defaultdict(set)
        for patient_id, side, day in (
            SetLog.objects.valid()
            .filter(self.patients("patient__"))
            .filter(
                performed_at__gte=self.start - dt.timedelta(days=WINDOW_DAYS - 1),
                performed_at__lt=self.end,
            )
            .annotate(day=self.local_day())
            .order_by()
            .values_list("patient_id", "side", "day")
            .distinct()
        ):
            days[(patient_id, side)].add(day)
        return days


def _active_at(moment: dt.datetime) -> Q:
    return Q(started_at__lte=moment) & (Q(ended_at__isnull=True) | Q(ended_at__gt=moment))


# -- progression -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageCount:
    stage: Stage
    side: str
    at_start: int
    at_end: int

    @property
    def change(self) -> int:
        return self.at_end - self.at_start


def stage_distribution(scope: Scope) -> list[StageCount]:
    """Patients per stage and side at the start and at the end of the range (two queries)."""
    start, end = scope.start, scope.end
    rows = (
        Prescription.objects.filter(scope.patients("patient__"))
        .filter(_active_at(start) | _active_at(end))
        .order_by()
        .values("stage_id", "side")
        .annotate(
            at_start=Count("id", filter=_active_at(start)),
            at_end=Count("id", filter=_active_at(end)),
        )
    )
    counts = {(r["stage_id"], r["side"]): (r["at_start"], r["at_end"]) for r in rows}
    stages = Stage.objects.filter(
        Q(ladder__slug="hip-clamshell") | Q(pk__in={stage_id for stage_id, _ in counts})
    ).select_related("ladder")
    return [
        StageCount(stage, side, *counts.get((stage.pk, side), (0, 0)))
        for stage in stages
        for side in Side.values
    ]


@dataclass(frozen=True)
class StageTime:
    """How long patients worked at one stage before progressing from it, in days."""

    stage: Stage
    progressions: int
    shortest: float
    q1: float
    median: float
    q3: float
    longest: float


def _days(value: dt.timedelta) -> float:
    return value.total_seconds() / 86400


def _interpolate(ranked: dict[int, float], n: int, p: float) -> float:
    # Position h = (n - 1)p + 1 among values ranked 1..n; between two ranks, interpolate.
    h = (n - 1) * p + 1
    lo, hi = math.floor(h), math.ceil(h)
    return ranked[lo] + (h - lo) * (ranked[hi] - ranked[lo])


def _near_quantiles() -> dict[str, Abs]:
    """For p = 0, ¼, ½, ¾, 1: four times the distance of a rank from the position (n - 1)p + 1.

    The ranks a quantile reads are those less than one away from its position: the shortest
    (p = 0), the longest (p = 1), and the one or two ranks around each quartile. Times four keeps
    the arithmetic in integers, the same on every database.
    """
    return {f"gap{k}": Abs(4 * F("rank") - ((F("n") - 1) * k + 4)) for k in range(5)}


def time_at_stage(scope: Scope) -> list[StageTime]:
    """Days spent at each stage by the prescriptions that ended in a progression within the range.

    The database ranks the durations within each stage (window functions) and returns only the
    ranks the quartiles read (at most eight rows per stage), however many progressions there were;
    the interpolation between two neighbouring ranks is done here.
    """
    progressed = StageChange.objects.filter(
        patient=OuterRef("patient"),
        side=OuterRef("side"),
        reason=ChangeReason.PROGRESSED,
        at=OuterRef("ended_at"),
        from_stage=OuterRef("stage"),
    )
    ranked = (
        Prescription.objects.filter(scope.patients("patient__"))
        .filter(ended_at__gte=scope.start, ended_at__lt=scope.end)
        .filter(Exists(progressed))
        .annotate(
            spent=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
        )
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=[F("spent").asc()]),
            n=Window(Count("id"), partition_by=[F("stage_id")]),
        )
        .annotate(**_near_quantiles())
        .filter(functools.reduce(operator.or_, (Q(**{f"gap{k}__lt": 4}) for k in range(5))))
        .order_by()
        .values_list("stage_id", "rank", "n", "spent")
    )
    by_stage: dict[int, tuple[int, dict[int, float]]] = {}
    for stage_id, rank, n, spent in ranked:
        by_stage.setdefault(stage_id, (n, {}))[1][rank] = _days(spent)
    stages = Stage.objects.in_bulk(list(by_stage))
    result = []
    for stage_id, (n, values) in by_stage.items():
        q1, median, q3 = (_interpolate(values, n, p) for p in QUARTILES)
        result.append(StageTime(stages[stage_id], n, values[1], q1, median, q3, values[n]))
    return sorted(result, key=lambda t: (t.stage.ladder_id, t.stage.number))


def changes_by_reason(scope: Scope) -> dict[str, int]:
    """Stage changes within the range, by reason (start, progressed, regressed, stopped)."""
    counts = dict(
        StageChange.objects.filter(scope.patients("patient__"))
        .filter(at__gte=scope.start, at__lt=scope.end)
        .order_by()
        .values("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
    )
    return {reason: counts.get(reason, 0) for reason in ChangeReason.values}


# -- readiness backlog -------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A side that has been ready to progress for a while with no decision."""

    prescription: Prescription
    ready_since: dt.datetime
    days: int
    # The stage it is ready for (None at the top of the ladder).
    next_stage: Stage | None = None

    @property
    def patient(self) -> Patient:
        return self.prescription.patient


def readiness_backlog(scope: Scope) -> list[Waiting]:
    """Active prescriptions ready to progress for more than `ready_days` days (as of now).

    Ready since = when the first set that met the readiness rule was performed; any stage change
    ends the prescription, so a side still on it has had no decision since.
    """
    # In calendar days, like "days waiting": ready on a day more than N days before today.
    cutoff = dt.datetime.combine(
        scope.today - dt.timedelta(days=scope.ready_days), dt.time.min, tzinfo=scope.clinic.tzinfo
    )
    ready = list(
        Prescription.objects.active()
        .filter(scope.patients("patient__"), patient__discharged_at__isnull=True)
        .with_readiness()
        .filter(is_ready=True)
        .select_related("patient", "stage")
        # The table names the patient and the stage: not the stage's instructions.
        .defer("stage__position", "stage__movement", "stage__cues", "stage__source", "notes")
    )
    since = ready_since(ready)
    following = next_stages(ready)
    waiting = [
        Waiting(
            p,
            since[p.pk],
            (scope.today - scope.clinic.local_date(since[p.pk])).days,
            following.get(p.pk),
        )
        for p in ready
        if since[p.pk] < cutoff
    ]
    return sorted(waiting, key=lambda w: (w.ready_since, w.patient.last_name, w.prescription.side))


# -- pain --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenPainAlert:
    """A side's open pain alert, for the report's table."""

    patient: Patient
    alert: PainAlert

    @property
    def side(self) -> str:
        return self.alert.side


@dataclass(frozen=True)
class PainFigures:
    sets: int
    painful_sets: int
    painful_patients: int
    open_alerts: list[OpenPainAlert]


def pain(scope: Scope) -> PainFigures:
    """Valid sets in the range, those above the pain alert threshold in force for them (their
    prescription's, else the clinic's), the patients who had them; and the sides of active
    patients with a pain alert open now (the rule of `exercises.progression`: painful sets no
    therapist has reviewed yet)."""
    painful = Q(pain__gt=F("alert_threshold"))
    totals = (
        SetLog.objects.valid()
        .filter(scope.patients("patient__"))
        .filter(performed_at__gte=scope.start, performed_at__lt=scope.end)
        .with_alert_threshold()
        .aggregate(
            # Not COUNT(id): the id is not in the index the range is read from; pain is (and
            # never empty).
            sets=Count("*"),
            painful_sets=Count("pain", filter=painful),
            painful_patients=Count("patient", distinct=True, filter=painful),
        )
    )
    in_scope = Patient.objects.active().filter(scope.patients())
    alerts = open_pain_alerts(Q(patient__in=in_scope.values("pk")), [scope.clinic])
    patients = in_scope.in_bulk({patient_id for patient_id, _ in alerts})
    rows = [OpenPainAlert(patients[patient_id], a) for (patient_id, _), a in alerts.items()]
    rows.sort(key=lambda r: (-r.alert.highest_pain, r.patient.last_name, r.side))
    return PainFigures(open_alerts=rows, **totals)


# -- adherence ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideSessions:
    patient: Patient
    side: str
    sessions: int
    days_prescribed: float
    target: float

    @property
    def judged(self) -> bool:
        return self.days_prescribed >= MIN_DAYS_TO_JUDGE

    @property
    def per_week(self) -> float | None:
        return self.sessions / (self.days_prescribed / 7) if self.judged else None

    @property
    def met(self) -> bool | None:
        per_week = self.per_week
        return None if per_week is None else per_week >= self.target - 1e-9


def sessions_per_week(scope: Scope) -> list[SideSessions]:
    """Per patient and side: sessions (clinic days with a valid set on that side) in the range,
    the days that side was prescribed within the range, and its target weighted by those days
    (a side whose target changed mid-range is held to each target for the days it applied)."""
    start, end = scope.start, scope.end
    overlap = ExpressionWrapper(
        Least(Coalesce("ended_at", Value(end)), Value(end)) - Greatest("started_at", Value(start)),
        output_field=DurationField(),
    )
    # One row per prescription that overlaps the range (a few per patient), with the overlap
    # computed by the database; the weighting by target is summed here per side.
    exposure: dict[tuple[int, str], list[tuple[dt.timedelta, int]]] = defaultdict(list)
    for patient_id, side, prescribed, target in (
        Prescription.objects.filter(scope.patients("patient__"))
        .filter(started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .annotate(prescribed=overlap)
        .values_list("patient_id", "side", "prescribed", "sessions_per_week")
    ):
        if prescribed > dt.timedelta(0):
            exposure[(patient_id, side)].append((prescribed, target))
    # Sessions in the range: the logged days from its first day on.
    sessions = {
        key: sum(1 for day in days if day >= scope.first) for key, days in scope.logged_days.items()
    }
    patients = Patient.objects.in_bulk({patient_id for patient_id, _ in exposure})
    result = []
    for (patient_id, side), spans in exposure.items():
        prescribed = sum((span for span, _ in spans), dt.timedelta(0))
        target = sum((span * t for span, t in spans), dt.timedelta(0)) / prescribed
        result.append(
            SideSessions(
                patients[patient_id],
                side,
                sessions.get((patient_id, side), 0),
                _days(prescribed),
                target,
            )
        )
    return sorted(result, key=lambda s: (s.patient.last_name, s.patient.first_name, s.side))


@dataclass(frozen=True)
class MonitoringWindow:
    """One of a patient's monitoring windows (`exercises.adherence.monitoring_windows`)."""

    patient: Patient
    window: adherence.Window

    def __getattr__(self, name: str) -> object:
        # first, last, number, data_days, band, status, ended: the window's own.
        return getattr(self.window, name)

    @property
    def discharged(self) -> bool:
        return self.window.status == adherence.WindowStatus.DISCHARGED


def monitoring_windows(scope: Scope) -> list[MonitoringWindow]:
    """Every monitoring window that overlaps the range, with its data days, for each patient.

    The windows are those of `exercises.adherence.monitoring_windows` (the one rule: windows
    from the clinic day of the first prescription, ending at discharge), counted up to
    the end of the range or today. A data day is a clinic day with at least one valid set on
    either side. The days come from `Scope.logged_days` (one row per patient, side and day, shared
    with the sessions); a correlated subquery for each set's window number cost seconds at a
    large clinic.
    """
    until = min(scope.last, scope.today)
    patients = list(
        Patient.objects.filter(scope.patients())
        .annotate(monitoring_from=Min("prescriptions__started_at"))
        .filter(monitoring_from__lt=scope.end)
        .filter(Q(discharged_at__isnull=True) | Q(discharged_at__gte=scope.start))
        .order_by("last_name", "first_name", "pk")
    )
    # Data days per patient: a day with a valid set on either side (read with the sessions).
    data_days: dict[int, set[dt.date]] = defaultdict(set)
    for (patient_id, _side), logged in scope.logged_days.items():
        data_days[patient_id] |= logged
    clinic = scope.clinic
    return [
        MonitoringWindow(patient, window)
        for patient in patients
        for window in adherence.monitoring_windows(
            start=clinic.local_date(patient.monitoring_from),
            days=data_days.get(patient.pk, ()),
            until=until,
            today=scope.today,
            discharged_on=clinic.local_date(patient.discharged_at)
            if patient.discharged_at
            else None,
            from_day=scope.first,
        )
    ]


# -- clearance ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearanceFigures:
    waiting: list[tuple[Patient, str]]
    due_for_review: list[tuple[Patient, ClearanceNote]]


def clearance(scope: Scope) -> ClearanceFigures:
    """Active patients who need clearance and have none in force today (missing, not cleared or
    lapsed), and those whose clearance is due for review within the clinic's warning days."""
    patients = list(
        Patient.objects.active()
        .filter(scope.patients(), requires_clearance=True)
        .prefetch_related("clearance_notes")
        .order_by("last_name", "first_name", "pk")
    )
    waiting, due = [], []
    for patient in patients:
        status = clearance_status(
            patient,
            scope.today,
            patient.clearance_notes.all(),
            review_soon_days=scope.clinic.review_soon_days,
        )
        if status.state == ClearanceState.DUE_FOR_REVIEW:
            assert status.note is not None
            due.append((patient, status.note))
        elif not status.in_force:
            waiting.append((patient, status.summary))
    return ClearanceFigures(waiting, due)
