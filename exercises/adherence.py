"""Adherence (docs/domain.md, "Adherence"): sessions per week against the prescription, and data
days.

A *session* is a calendar day on which at least one valid set was logged for that side; a *data
day* is a calendar day with at least one valid set on any side. Days are counted in the clinic's
time zone, so a set at 23:30 local time belongs to that evening, not to the next UTC day. US remote
therapeutic monitoring counts data days in windows of `WINDOW_DAYS` and bands them
(`patients.thresholds`).

**Monitoring windows** have one rule, `monitoring_windows`: consecutive windows counted from
the clinic day monitoring started (the first prescription's), ending at discharge. The clinic
report, the patient report, the dashboard, the patient page and the API all take their windows
from it. The *rolling* window (the data days of the last `WINDOW_DAYS` days) is a separate
figure, not a monitoring window.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from django.db.models import QuerySet
from django.db.models.functions import TruncDate
from django_stubs_ext import WithAnnotations

from exercises.models import SetLog
from patients.models import Patient
from patients.thresholds import BAND_HIGH_FROM, BAND_LOW_BELOW, WINDOW_DAYS


class AdherenceBand(enum.StrEnum):
    UNDER_2 = "under_2"
    DAYS_2_15 = "2_15"
    DAYS_16_30 = "16_30"

    @property
    def label(self) -> str:
        return {
            "under_2": f"<{BAND_LOW_BELOW} days",
            "2_15": f"{BAND_LOW_BELOW}–{BAND_HIGH_FROM - 1} days",
            "16_30": f"{BAND_HIGH_FROM}–{WINDOW_DAYS} days",
        }[self.value]


def band(data_days: int) -> AdherenceBand:
    if data_days < BAND_LOW_BELOW:
        return AdherenceBand.UNDER_2
    if data_days < BAND_HIGH_FROM:
        return AdherenceBand.DAYS_2_15
    return AdherenceBand.DAYS_16_30


def _day_start(patient: Patient, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=patient.clinic.tzinfo)


class LocalDay(TypedDict):
    day: dt.date  # the clinic's day the set was performed on


def _days_with_sets(
    patient: Patient, first: dt.date, last: dt.date
) -> QuerySet[WithAnnotations[SetLog, LocalDay]]:
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


class _DataDays:
    """Data days and their band, for anything that holds its `days`."""

    days: tuple[dt.date, ...]

    @property
    def data_days(self) -> int:
        return len(self.days)

    @property
    def band(self) -> AdherenceBand:
        return band(self.data_days)


@dataclass(frozen=True)
class Rolling(_DataDays):
    """Data days in the `WINDOW_DAYS` days ending today (inclusive): how the patient is doing
    lately."""

    first: dt.date
    last: dt.date
    days: tuple[dt.date, ...]


def rolling_window(patient: Patient, today: dt.date) -> Rolling:
    """The `WINDOW_DAYS` days ending today (inclusive)."""
    first = today - dt.timedelta(days=WINDOW_DAYS - 1)
    return Rolling(first, today, tuple(logged_days(patient, first, today)))


class WindowStatus(enum.StrEnum):
    COMPLETE = "complete"  # all its days are past
    IN_PROGRESS = "in_progress"  # today is one of its days: its data days are "so far"
    DISCHARGED = "discharged"  # monitoring ended within it, at discharge
    CUT = "cut"  # a report's period ends within it (a period in the past)

    @property
    def label(self) -> str:
        return {
            "complete": "complete",
            "in_progress": "in progress (so far)",
            "discharged": "ended at discharge",
            "cut": "cut at the end of the period",
        }[self.value]

    @property
    def ended(self) -> bool:
        return self in (WindowStatus.COMPLETE, WindowStatus.DISCHARGED)


@dataclass(frozen=True)
class Window(_DataDays):
    """One monitoring window: its `WINDOW_DAYS` days from `first`, counted up to `until`."""

    index: int
    first: dt.date
    last: dt.date  # its 30th day
    until: dt.date  # the last day counted: `last`, or today, the discharge day, the period's end
    days: tuple[dt.date, ...]
    status: WindowStatus

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def size(self) -> int:
        """Days in a whole window."""
        return WINDOW_DAYS

    @property
    def length(self) -> int:
        """Days counted so far (30 for a complete window)."""
        return (self.until - self.first).days + 1

    @property
    def complete(self) -> bool:
        return self.status == WindowStatus.COMPLETE

    @property
    def ended(self) -> bool:
        return self.status.ended


def monitoring_windows(
    *,
    start: dt.date,
    days: Iterable[dt.date],
    until: dt.date,
    today: dt.date,
    discharged_on: dt.date | None = None,
    from_day: dt.date | None = None,
) -> list[Window]:
    """The monitoring windows, from the clinic day monitoring started (`start`) to `until` (today,
    or the last day of a report's period, whichever is earlier), or to the discharge day when that
    comes first: discharge ends monitoring. `days` are the days with data (a valid set on either
    side); `from_day` leaves out the windows that ended before it. Nothing here reads the database.

    The last window may be partial: in progress (`until` is today), ended at discharge, or cut by
    the end of a period in the past.
    """
    stop = until if discharged_on is None else min(until, discharged_on)
    if stop < start:
        return []
    counted = sorted(d for d in set(days) if start <= d <= stop)
    first_index = max(0, ((from_day or start) - start).days // WINDOW_DAYS)
    last_index = (stop - start).days // WINDOW_DAYS
    windows = []
    for index in range(first_index, last_index + 1):
        first = start + dt.timedelta(days=index * WINDOW_DAYS)
        last = first + dt.timedelta(days=WINDOW_DAYS - 1)
        end = min(last, stop)
        if end == last:
            status = WindowStatus.COMPLETE
        elif discharged_on is not None and end == discharged_on:
            status = WindowStatus.DISCHARGED
        elif end == today:
            status = WindowStatus.IN_PROGRESS
        else:
            status = WindowStatus.CUT
        windows.append(
            Window(
                index=index,
                first=first,
                last=last,
                until=end,
                days=tuple(d for d in counted if first <= d <= end),
                status=status,
            )
        )
    return windows


def current_window(
    *, start: dt.date, days: Iterable[dt.date], today: dt.date, discharged_on: dt.date | None
) -> Window | None:
    """Today's monitoring window (None before monitoring starts or after discharge)."""
    if discharged_on is not None and discharged_on < today:
        return None
    windows = monitoring_windows(
        start=start,
        days=days,
        until=today,
        today=today,
        discharged_on=discharged_on,
        from_day=today,
    )
    return windows[-1] if windows else None


def monitoring_start(patient: Patient) -> dt.date | None:
    """The clinic day monitoring started: the day of the patient's first prescription (ended ones
    included); None before any. One query."""
    first = (
        patient.prescriptions.order_by("started_at").values_list("started_at", flat=True).first()
    )
    return patient.clinic.local_date(first) if first is not None else None


def discharge_day(patient: Patient) -> dt.date | None:
    """The clinic day of the patient's discharge, which ends monitoring."""
    if patient.discharged_at is None:
        return None
    return patient.clinic.local_date(patient.discharged_at)


def patient_current_window(patient: Patient, *, today: dt.date) -> Window | None:
    """A patient's window of today (`current_window`), None before monitoring starts or after
    discharge. Two queries: when monitoring started, and the days with data that today's window
    can hold (it began at most WINDOW_DAYS - 1 days ago)."""
    start = monitoring_start(patient)
    if start is None:
        return None
    since = max(start, today - dt.timedelta(days=WINDOW_DAYS - 1))
    return current_window(
        start=start,
        days=logged_days(patient, since, today),
        today=today,
        discharged_on=discharge_day(patient),
    )
