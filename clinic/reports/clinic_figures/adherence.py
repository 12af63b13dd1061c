"""The adherence figures of the clinic report (docs/reports.md, "Adherence"): sessions per week
against target per side, and the data days of each monitoring window.

Both count the days of `Scope.logged_days` (one row per patient, side and clinic day with a valid
set, read once for the two), so what comes back is one row per group, never one per set.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import DurationField, ExpressionWrapper, Min, Q, Value
from django.db.models.functions import Coalesce, Greatest, Least

from clinic.reports.clinic_figures.scope import Scope, in_days
from exercises import adherence
from exercises.models import Prescription
from patients.models import Patient
from patients.thresholds import MIN_DAYS_TO_JUDGE


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
        weighted_target = sum((span * t for span, t in spans), dt.timedelta(0)) / prescribed
        result.append(
            SideSessions(
                patients[patient_id],
                side,
                sessions.get((patient_id, side), 0),
                in_days(prescribed),
                weighted_target,
            )
        )
    return sorted(result, key=lambda s: (s.patient.last_name, s.patient.first_name, s.side))


@dataclass(frozen=True)
class MonitoringWindow:
    """One of a patient's monitoring windows (`exercises.adherence.monitoring_windows`)."""

    patient: Patient
    window: adherence.Window

    def __getattr__(self, name: str) -> Any:
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
