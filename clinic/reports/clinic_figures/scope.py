"""Whose figures, over which days: the scope every figure of the clinic report is computed for.

Days are calendar days in the clinic's time zone, as everywhere else (`exercises.adherence`). The
range runs from the first day's midnight to the midnight after the last day, clinic time; figures
"at the end of the range" are taken at that moment or now, whichever is earlier.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.db.models.functions import TruncDate

from exercises.models import SetLog
from patients.models import Clinic
from patients.thresholds import READY_BACKLOG_DAYS, WINDOW_DAYS

# One monitoring window's length: the period a payer usually asks about (the page's default range).
DEFAULT_DAYS = WINDOW_DAYS
# A readiness nobody has acted on for longer than this is a backlog (the report lets staff change it).
DEFAULT_READY_DAYS = READY_BACKLOG_DAYS


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


def in_days(value: dt.timedelta) -> float:
    """A duration in days (with the fraction), as the figures give time at a stage or prescribed."""
    return value.total_seconds() / 86400
