"""Per-patient figures for a whole caseload at once: the columns of the therapist dashboard.

The per-patient read models (`exercises.plan.progress_for`, `exercises.adherence`) answer for one
patient and run their queries once per call; a dashboard lists many patients and must not run them
once per row. Each function here aggregates in the database, grouped by patient (and side), so its
cost is a fixed number of queries whatever the number of patients. The rules are those of
`exercises.adherence` and `exercises.plan`: a *day* is a calendar day in the patient's clinic zone,
voided sets count for nothing, "best reps" is the best valid set on the current prescription.

A caseload may span clinics in different time zones (a therapist can work in several). Days are
then counted with one `TruncDate` per zone, chosen by a CASE on the patient's clinic — still one
query, however many clinics.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Case, Count, DateField, Expression, Max, Min, Q, When
from django.db.models.functions import TruncDate

from exercises.adherence import (
    AdherenceBand,
    Window,
    band,
    current_window,
    discharge_day,
    week_of,
)
from exercises.models import Prescription, PrescriptionWithState, SetLog
from exercises.progression import Alert, active_prescriptions_with_state, alerts_for
from patients.clearance import clearance_problem
from patients.models import ClearanceNote, Patient, Side
from patients.thresholds import WINDOW_DAYS

# -- days in each clinic's zone --------------------------------------------------------------

Span = Callable[[dt.date], tuple[dt.date, dt.date]]


def _zones(patients: Iterable[Patient]) -> dict[str, list[int]]:
    """Clinic ids by time zone name, for the clinics of these patients (`clinic` selected)."""
    zones: dict[str, set[int]] = defaultdict(set)
    for patient in patients:
        zones[patient.clinic.timezone].add(patient.clinic_id)
    return {name: sorted(ids) for name, ids in sorted(zones.items())}


def _local_day(zones: dict[str, list[int]]) -> Expression:
    """`performed_at` as a calendar day in the zone of the set's patient's clinic."""
    days = {name: TruncDate("performed_at", tzinfo=zoneinfo.ZoneInfo(name)) for name in zones}
    if len(days) == 1:
        return next(iter(days.values()))
    return Case(
        *(When(patient__clinic_id__in=zones[name], then=day) for name, day in days.items()),
        output_field=DateField(),
    )


def _within(zones: dict[str, list[int]], now: dt.datetime, span: Span) -> Q:
    """Sets performed within `span(today)` (first and last day, inclusive), in each clinic zone."""
    within = Q()
    for name, clinic_ids in zones.items():
        tz = zoneinfo.ZoneInfo(name)
        first, last = span(now.astimezone(tz).date())
        # With a single zone every patient is in it: no need to join their clinic.
        in_zone = Q(patient__clinic_id__in=clinic_ids) if len(zones) > 1 else Q()
        within |= in_zone & Q(
            performed_at__gte=dt.datetime.combine(first, dt.time.min, tzinfo=tz),
            performed_at__lt=dt.datetime.combine(
                last + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            ),
        )
    return within


def _last_30_days(today: dt.date) -> tuple[dt.date, dt.date]:
    # The rolling window of `adherence.rolling_window`: the days ending today, inclusive.
    return today - dt.timedelta(days=WINDOW_DAYS - 1), today


# -- one query each, whatever the number of patients -----------------------------------------


def last_logs(patients: Sequence[Patient]) -> dict[int, dt.datetime]:
    """Per patient with any valid set: when they last performed one. One query."""
    return dict(
        SetLog.objects.valid()
        .filter(patient_id__in=[p.pk for p in patients])
        .order_by()
        .values("patient_id")
        .annotate(last=Max("performed_at"))
        .values_list("patient_id", "last")
    )


def days_last_30(patients: Sequence[Patient], *, now: dt.datetime) -> dict[int, set[dt.date]]:
    """The data days (clinic days with a valid set on any side) of the rolling window, per
    patient: enough for any monitoring window that holds today. One query."""
    zones = _zones(patients)
    if not zones:
        return {}
    days: dict[int, set[dt.date]] = defaultdict(set)
    for patient_id, day in (
        SetLog.objects.valid()
        .filter(_within(zones, now, _last_30_days), patient_id__in=[p.pk for p in patients])
        .annotate(day=_local_day(zones))
        .order_by()
        .values_list("patient_id", "day")
        .distinct()
    ):
        days[patient_id].add(day)
    return days


def monitoring_starts(patients: Sequence[Patient]) -> dict[int, dt.datetime]:
    """When each patient's monitoring started: their first prescription's start. One query."""
    return dict(
        Prescription.objects.filter(patient_id__in=[p.pk for p in patients])
        .order_by()
        .values("patient_id")
        .annotate(first=Min("started_at"))
        .values_list("patient_id", "first")
    )


def sessions_this_week(
    patients: Sequence[Patient], *, now: dt.datetime
) -> dict[tuple[int, str], int]:
    """Sessions (clinic days with a valid set on that side) this Monday-Sunday week, per side."""
    zones = _zones(patients)
    if not zones:
        return {}
    rows = (
        SetLog.objects.valid()
        .filter(_within(zones, now, week_of), patient_id__in=[p.pk for p in patients])
        .order_by()
        .values("patient_id", "side")
        .annotate(days=Count(_local_day(zones), distinct=True))
        .values_list("patient_id", "side", "days")
    )
    return {(patient_id, side): days for patient_id, side, days in rows}


# -- the figures a dashboard shows -----------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What a caseload is filtered and sorted by: known for every patient, not just one page."""

    patient: Patient
    alerts: list[Alert]
    last_log_at: dt.datetime | None
    data_days: int  # in the rolling window
    # Today's monitoring window (`exercises.adherence.monitoring_windows`), None before the first
    # prescription.
    window: Window | None = None

    @property
    def band(self) -> AdherenceBand:
        return band(self.data_days)

    @property
    def window_data_days(self) -> int:
        return self.window.data_days if self.window else 0

    @property
    def last_log_on(self) -> dt.date | None:
        """The last set's calendar day in the patient's clinic zone."""
        if self.last_log_at is None:
            return None
        return self.patient.clinic.local_date(self.last_log_at)


def summaries_for(patients: Sequence[Patient], *, now: dt.datetime) -> dict[int, Summary]:
    """Alerts, last log, data days and today's monitoring window for every patient: eight
    queries in all.

    Pass patients with `clinic` selected. The alerts are computed in Python from the five queries
    of `alerts_for`, so this reads every active prescription and clearance note of the caseload:
    fine for the few hundred patients of a clinic, and what lets a dashboard filter the *whole*
    caseload by alert rather than one page of it.
    """
    alerts = alerts_for(patients, now=now)
    last = last_logs(patients)
    # The rolling window's data days: their count for the band, and today's monitoring window.
    days = days_last_30(patients, now=now)
    starts = monitoring_starts(patients)
    result = {}
    for p in patients:
        clinic = p.clinic
        start = starts.get(p.pk)
        window = (
            current_window(
                start=clinic.local_date(start),
                days=days.get(p.pk, ()),
                today=clinic.local_date(now),
                discharged_on=discharge_day(p),
            )
            if start is not None
            else None
        )
        result[p.pk] = Summary(
            p, alerts[p.pk], last.get(p.pk), len(days.get(p.pk, ())), window=window
        )
    return result


@dataclass(frozen=True)
class SideFigures:
    """One side of one patient: the stage, how close to the next, this week's sessions."""

    side: str
    prescription: PrescriptionWithState | None
    pause_reason: str | None
    best_reps: int | None
    sessions: int

    @property
    def paused(self) -> bool:
        return self.pause_reason is not None

    @property
    def stage_number(self) -> int | None:
        return self.prescription.stage.number if self.prescription else None

    @property
    def reps_target(self) -> int | None:
        """The readiness threshold: the prescription's own, else the clinic's."""
        return self.prescription.reps_threshold if self.prescription else None

    @property
    def sessions_target(self) -> int | None:
        return self.prescription.sessions_per_week if self.prescription else None

    @property
    def sessions_met(self) -> bool:
        target = self.sessions_target
        return target is not None and self.sessions >= target


def sides_for(
    patients: Sequence[Patient], *, now: dt.datetime
) -> dict[int, tuple[SideFigures, ...]]:
    """Left and right for every patient: three queries in all (prescriptions with their state and
    best reps, clearance notes, sessions this week). Pass patients with `clinic` selected."""
    ids = [p.pk for p in patients]
    by_side: dict[tuple[int, str], PrescriptionWithState] = {
        (p.patient_id, p.side): p for p in active_prescriptions_with_state(ids, now=now)
    }
    notes: dict[int, list[ClearanceNote]] = defaultdict(list)
    for note in ClearanceNote.objects.filter(patient_id__in=ids, patient__requires_clearance=True):
        notes[note.patient_id].append(note)
    sessions = sessions_this_week(patients, now=now)

    result = {}
    for patient in patients:
        today = patient.clinic.local_date(now)
        sides = []
        for side in Side.values:
            p = by_side.get((patient.pk, side))
            sides.append(
                SideFigures(
                    side=side,
                    prescription=p,
                    # The clearance gate decides "paused" (derived on every read, never stored).
                    pause_reason=clearance_problem(
                        patient, p.stage, p.side, today, notes[patient.pk]
                    )
                    if p
                    else None,
                    # Within the pain ceiling (`PrescriptionQuerySet.with_readiness`).
                    best_reps=p.best_reps if p else None,
                    sessions=sessions.get((patient.pk, side), 0),
                )
            )
        result[patient.pk] = tuple(sides)
    return result
