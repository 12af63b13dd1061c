"""Adherence (DESIGN §4): sessions per week against the prescription, and data days.

A *session* is a calendar day on which at least one valid set was logged for that side; a *data
day* is a calendar day with at least one valid set on any side. Days are counted in the clinic's
time zone, so a set at 23:30 local time belongs to that evening, not to the next UTC day. US remote
therapeutic monitoring counts data days in 30-day windows and bands them: fewer than 2, 2-15, 16-30.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.functions import TruncDate

from exercises.models import SetLog
from patients.models import Patient

WINDOW_DAYS = 30


class AdherenceBand(enum.StrEnum):
    UNDER_2 = "under_2"
    DAYS_2_15 = "2_15"
    DAYS_16_30 = "16_30"

    @property
    def label(self) -> str:
        return {"under_2": "<2 days", "2_15": "2–15 days", "16_30": "16–30 days"}[self.value]


def band(data_days: int) -> AdherenceBand:
    if data_days < 2:
        return AdherenceBand.UNDER_2
    if data_days <= 15:
        return AdherenceBand.DAYS_2_15
    return AdherenceBand.DAYS_16_30


def _day_start(patient: Patient, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=patient.clinic.tzinfo)


def _days_with_sets(patient: Patient, first: dt.date, last: dt.date) -> QuerySet[SetLog]:
    """Valid sets from `first` to `last` (inclusive, clinic days), annotated with their local day."""
    return (
        SetLog.objects.valid()
        .filter(
            patient=patient,
            performed_at__gte=_day_start(patient, first),
            performed_at__lt=_day_start(patient, last + dt.timedelta(days=1)),
        )
        .annotate(day=TruncDate("performed_at", tzinfo=patient.clinic.tzinfo))
    )


def logged_days(
    patient: Patient, first: dt.date, last: dt.date, *, side: str | None = None
) -> list[dt.date]:
    """Distinct clinic-local days from `first` to `last` (inclusive) with a valid set."""
    sets = _days_with_sets(patient, first, last)
    if side is not None:
        sets = sets.filter(side=side)
    return list(sets.values_list("day", flat=True).distinct().order_by("day"))


def logged_days_by_side(patient: Patient, first: dt.date, last: dt.date) -> dict[str, set[dt.date]]:
    """The same days per side, in one query."""
    days: dict[str, set[dt.date]] = defaultdict(set)
    for side, day in _days_with_sets(patient, first, last).values_list("side", "day").distinct():
        days[side].add(day)
    return days


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday to Sunday around `day`."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


@dataclass(frozen=True)
class WeekAdherence:
    side: str
    sessions: int
    target: int

    @property
    def met(self) -> bool:
        return self.sessions >= self.target


def sessions_this_week(patient: Patient, side: str, target: int, today: dt.date) -> WeekAdherence:
    monday, sunday = week_of(today)
    return WeekAdherence(side, len(logged_days(patient, monday, sunday, side=side)), target)


@dataclass(frozen=True)
class Window:
    first: dt.date
    last: dt.date
    days: tuple[dt.date, ...]

    @property
    def data_days(self) -> int:
        return len(self.days)

    @property
    def band(self) -> AdherenceBand:
        return band(self.data_days)

    @property
    def complete(self) -> bool:
        return (self.last - self.first).days + 1 == WINDOW_DAYS


def rolling_window(patient: Patient, today: dt.date) -> Window:
    """The 30 days ending today (inclusive)."""
    first = today - dt.timedelta(days=WINDOW_DAYS - 1)
    return Window(first, today, tuple(logged_days(patient, first, today)))


def monitoring_windows(patient: Patient, start: dt.date, today: dt.date) -> list[Window]:
    """Consecutive 30-day windows from the start of monitoring; the last one may be partial."""
    if start > today:
        return []
    days = logged_days(patient, start, today)
    windows = []
    first = start
    while first <= today:
        last = min(first + dt.timedelta(days=WINDOW_DAYS - 1), today)
        windows.append(Window(first, last, tuple(d for d in days if first <= d <= last)))
        first += dt.timedelta(days=WINDOW_DAYS)
    return windows
