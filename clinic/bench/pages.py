"""Measurements a and b of `manage.py bench`: the pages at a small clinic vs the largest, and the
clinic report vs the hand-written SQL floor.

Each figure is a ratio of two timings taken in the same run, interleaved (small, large, small,
large…) so that a machine that slows down or speeds up moves both sides alike. A timing is the
median of N requests after a warm-up; a request goes through the whole stack in-process (URL
routing, middleware, the view, the template) with Django's test client, signed in with
`force_login`. Query counts come from one request under `CaptureQueriesContext`.

Who is measured, at each clinic: the therapist with the median active caseload (a typical
therapist, not the busiest), that therapist's active patient with the median number of sets, and
the clinic's staff member for the clinic report (its default range, ending today).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.bench.agreement import differences
from clinic.bench.floor import report_floor
from clinic.bench.generate import GENERATED_SLUG
from clinic.reports import clinic_figures
from clinic.reports.clinic_figures import DEFAULT_DAYS
from clinic.reports.clinic_report import build_report
from exercises.models import SetLog
from patients.models import Clinic, Membership, Patient, Role

# Targets of the issue (docs/performance.md).
PAGE_RATIO_TARGET = 2.0
FLOOR_RATIO_TARGET = 3.0


@dataclass(frozen=True)
class Cast:
    """The people measured at one clinic."""

    clinic: Clinic
    therapist: User
    staff: User
    patient: Patient
    patients: int
    caseload: int
    patient_sets: int
    clinic_sets: int

    def describe(self) -> dict[str, Any]:
        return {
            "clinic": self.clinic.name,
            "patients": self.patients,
            "sets": self.clinic_sets,
            "therapist": self.therapist.get_username(),
            "active_caseload": self.caseload,
            "patient": self.patient.pk,
            "patient_sets": self.patient_sets,
        }


def _median_item[T](items: list[T], key: Callable[[T], int]) -> T:
    ranked = sorted(items, key=key)
    return ranked[(len(ranked) - 1) // 2]


def cast_at(clinic: Clinic) -> Cast:
    """A typical therapist of the clinic, one of their typical patients, and the clinic's staff."""
    therapists = list(
        get_user_model()
        .objects.filter(memberships__clinic=clinic, memberships__role=Role.THERAPIST)
        .annotate(
            active=Count(
                "caseload",
                filter=Q(caseload__clinic=clinic, caseload__discharged_at__isnull=True),
            )
        )
        .order_by("pk")
    )
    therapist = _median_item(therapists, key=lambda u: u.active)
    patients = list(
        Patient.objects.active()
        .filter(clinic=clinic, primary_therapist=therapist, prescriptions__ended_at__isnull=True)
        .annotate(sets=Count("set_logs", distinct=True))
        .distinct()
        .order_by("pk")
    )
    if not patients:
        raise RuntimeError(f"{clinic} has no therapist with an active patient to measure.")
    patient = _median_item(patients, key=lambda p: p.sets)
    staff = Membership.objects.get(clinic=clinic, role=Role.STAFF).user
    return Cast(
        clinic=clinic,
        therapist=therapist,
        staff=staff,
        patient=patient,
        patients=Patient.objects.filter(clinic=clinic).count(),
        caseload=therapist.active,
        patient_sets=patient.sets,
        clinic_sets=SetLog.objects.filter(patient__clinic=clinic).count(),
    )


def smallest_and_largest() -> tuple[Clinic, Clinic]:
    clinics = list(
        Clinic.objects.filter(slug__regex=GENERATED_SLUG)
        .annotate(n=Count("patients"))
        .order_by("n", "pk")
    )
    if len(clinics) < 2:
        raise RuntimeError("No generated network here: run `manage.py bench --fresh` first.")
    return clinics[0], clinics[-1]


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[Cast], str]
    who: Callable[[Cast], User]


PAGES = (
    Page("dashboard", lambda c: "/dashboard/", lambda c: c.therapist),
    Page("patient page", lambda c: f"/patients/{c.patient.pk}/", lambda c: c.therapist),
    Page("clinic report", lambda c: f"/reports/?clinic={c.clinic.pk}", lambda c: c.staff),
)


class Visitor:
    """One signed-in client per user, reused for every request of that user."""

    def __init__(self) -> None:
        self._clients: dict[int, Client] = {}

    def get(self, user: User, url: str) -> None:
        client = self._clients.get(user.pk)
        if client is None:
            client = self._clients[user.pk] = Client()
            client.force_login(user)
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} as {user} answered {response.status_code}.")
        # Stream or not, the body is part of the work.
        _ = response.content

    def timed(self, user: User, url: str) -> float:
        started = time.perf_counter()
        self.get(user, url)
        return time.perf_counter() - started

    def queries(self, user: User, url: str) -> int:
        # The request just before takes the writes that come at most once a minute (the session's
        # last-seen stamp), so the count is that of the page itself.
        self.get(user, url)
        with CaptureQueriesContext(connection) as captured:
            self.get(user, url)
        return len(captured)


def _interleaved(
    a: Callable[[], float], b: Callable[[], float], *, repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Medians of a and b, each run `repeats` times, alternating; the first `warmup` discarded."""
    for _ in range(warmup):
        a(), b()
    times_a, times_b = [], []
    for i in range(repeats):
        # Alternate who goes first too: a cache warmed by the other side favours neither.
        if i % 2:
            times_b.append(b())
            times_a.append(a())
        else:
            times_a.append(a())
            times_b.append(b())
    return statistics.median(times_a), statistics.median(times_b)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def measure_pages(*, repeats: int) -> dict[str, Any]:
    """Measurement a: each page at the smallest clinic vs the largest."""
    small_clinic, large_clinic = smallest_and_largest()
    small, large = cast_at(small_clinic), cast_at(large_clinic)
    visitor = Visitor()
    pages: dict[str, Any] = {}
    for page in PAGES:
        su, surl = page.who(small), page.url(small)
        lu, lurl = page.who(large), page.url(large)
        q_small, q_large = visitor.queries(su, surl), visitor.queries(lu, lurl)
        t_small, t_large = _interleaved(
            partial(visitor.timed, su, surl),
            partial(visitor.timed, lu, lurl),
            repeats=repeats,
        )
        ratio = t_large / t_small
        pages[page.name] = {
            "small_ms": _ms(t_small),
            "large_ms": _ms(t_large),
            "ratio": round(ratio, 2),
            "target": PAGE_RATIO_TARGET,
            "met": ratio <= PAGE_RATIO_TARGET and q_small == q_large,
            "queries_small": q_small,
            "queries_large": q_large,
            "queries_equal": q_small == q_large,
        }
    return {"small": small.describe(), "large": large.describe(), "pages": pages}


def measure_floor(*, repeats: int) -> dict[str, Any]:
    """Measurement b: the clinic report at the largest clinic vs one hand-written SQL statement
    that computes the same figures (clinic.bench.floor), and the figures alone without the page.

    Each timed call gets a Scope of its own: the scope keeps what it read (`Scope.logged_days`,
    the report's largest read), so a reused one would time that read only once. After the
    timings, the floor's rows are compared with the report's figures (`clinic.bench.agreement`):
    a floor that computes other rows bounds nothing, and the target is then reported missed."""
    _, large_clinic = smallest_and_largest()
    cast = cast_at(large_clinic)
    visitor = Visitor()
    url = f"/reports/?clinic={large_clinic.pk}"

    def scope() -> clinic_figures.Scope:
        # The page's default range (ending today), at the moment of the call.
        now = timezone.now()
        last = large_clinic.local_date(now)
        return clinic_figures.Scope(
            clinic=large_clinic,
            first=last - dt.timedelta(days=DEFAULT_DAYS - 1),
            last=last,
            now=now,
        )

    def floor() -> float:
        fresh = scope()
        started = time.perf_counter()
        report_floor(fresh)
        return time.perf_counter() - started

    def figures() -> float:
        fresh = scope()
        started = time.perf_counter()
        with timezone.override(large_clinic.tzinfo):
            build_report(fresh)
        return time.perf_counter() - started

    t_page, t_floor = _interleaved(lambda: visitor.timed(cast.staff, url), floor, repeats=repeats)
    t_figures, t_floor_figures = _interleaved(figures, floor, repeats=repeats)
    ratio = t_page / t_floor
    figures_ratio = t_figures / t_floor_figures
    checked = scope()
    rows = report_floor(checked)
    disagree = differences(rows, checked)
    # The floor is a lower bound only if the report's work cannot be done in less: on SQLite
    # the per-set clinic day is a Python function for both, so the floor may come out slower.
    lower_bound = t_floor <= t_page and t_floor_figures <= t_figures
    return {
        "clinic": cast.describe(),
        "page_ms": _ms(t_page),
        "floor_ms": _ms(t_floor),
        "figures_ms": _ms(t_figures),
        # The floor timed again, interleaved with the figures: what figures_ratio divides by.
        "floor_figures_ms": _ms(t_floor_figures),
        "floor_rows": len(rows),
        "floor_rows_by_figure": dict(sorted(Counter(r[0] for r in rows).items())),
        # Where the floor's rows and the report's figures differ (the first 20): none expected.
        "floor_matches_report": not disagree,
        "differences": len(disagree),
        "differences_first": disagree[:20],
        "ratio": round(ratio, 2),
        "figures_ratio": round(figures_ratio, 2),
        "target": FLOOR_RATIO_TARGET,
        "floor_is_lower_bound": lower_bound,
        "note": None if lower_bound else floor_note(connection.vendor),
        "met": lower_bound and not disagree and ratio <= FLOOR_RATIO_TARGET,
    }


def floor_note(vendor: str) -> str:
    """Why the floor was slower than the report it bounds."""
    if vendor == "sqlite":
        return (
            "floor not a lower bound on SQLite: the per-set time-zone conversion is a Python "
            "function there, paid by the floor as by the report"
        )
    return f"floor not a lower bound on {vendor}: the hand-written statement was slower"
