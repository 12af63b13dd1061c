"""Does the SQL floor compute the clinic report's rows? Where they disagree, in words.

The floor (`clinic.bench.floor`) is a lower bound of the report's work only if it does the same
work: the same rows, figure by figure. `differences` compares its rows with the report's figures
(`clinic.reports.clinic_figures`), and the monitoring windows of both with the windows the one rule gives
(`exercises.adherence.monitoring_windows`, fed with each patient's start of monitoring, discharge
and clinic days with a valid set). `manage.py bench` runs it at the largest clinic after timing
the floor, and the bench's tests at every clinic of the tiny network.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from django.db.models import Min, Q

from clinic.reports import clinic_figures as figures
from exercises import adherence
from exercises.models import SetLog
from patients.clearance import clearance_status
from patients.models import Patient
from patients.thresholds import WINDOW_DAYS

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Times come back from the floor as seconds in floating point (SQLite's julianday keeps
# milliseconds): equal within a few milliseconds.
_SECONDS = 0.005


def _seconds(moment: dt.datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return False
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=_SECONDS)
    return bool(a == b)


def _compare[K: Hashable](
    figure: str,
    floor: Mapping[K, Any],
    expected: Mapping[K, Any],
    *,
    left: str = "floor",
    source: str = "report",
) -> list[str]:
    found = []
    for key in sorted(floor.keys() | expected.keys(), key=repr):
        if key not in expected:
            found.append(f"{figure} {key!r}: in the {left} only ({floor[key]!r})")
        elif key not in floor:
            found.append(f"{figure} {key!r}: in the {source} only ({expected[key]!r})")
        elif not _same(floor[key], expected[key]):
            found.append(f"{figure} {key!r}: {left} {floor[key]!r}, {source} {expected[key]!r}")
    return found


def _number(value: Any) -> Any:
    # PostgreSQL answers numeric for EXTRACT(EPOCH …) and integers as floats in a DOUBLE column.
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _rows(rows: Iterable[Sequence[Any]], figure: str) -> list[tuple[Any, ...]]:
    return [(r[1], r[2], *(_number(v) for v in r[3:])) for r in rows if r[0] == figure]


def rule_windows(scope: figures.Scope) -> dict[tuple[int, int], tuple[str, int]]:
    """The monitoring windows the report must list, from the one rule: per (patient, window
    index), its status and data days. The patients are the report's (monitoring started before
    the range ends, not discharged before it starts); their days are read here, not from the
    report."""
    clinic = scope.clinic
    patients = list(
        Patient.objects.filter(scope.patients())
        .annotate(monitoring_from=Min("prescriptions__started_at"))
        .filter(monitoring_from__lt=scope.end)
        .filter(Q(discharged_at__isnull=True) | Q(discharged_at__gte=scope.start))
    )
    days: dict[int, set[dt.date]] = defaultdict(set)
    for day, patient_id in (
        SetLog.objects.valid()
        .filter(patient__in=[p.pk for p in patients])
        # No window that overlaps the range starts earlier than this.
        .filter(performed_at__gte=scope.start - dt.timedelta(days=WINDOW_DAYS - 1))
        .annotate(day=scope.local_day())
        .order_by()
        .values_list("day", "patient_id")
        .distinct()
    ):
        days[patient_id].add(day)
    windows = {}
    for patient in patients:
        for window in adherence.monitoring_windows(
            start=clinic.local_date(patient.monitoring_from),
            days=days[patient.pk],
            until=min(scope.last, scope.today),
            today=scope.today,
            discharged_on=clinic.local_date(patient.discharged_at)
            if patient.discharged_at
            else None,
            from_day=scope.first,
        ):
            windows[(patient.pk, window.index)] = (window.status.value, window.data_days)
    return windows


def differences(rows: Sequence[Sequence[Any]], scope: figures.Scope) -> list[str]:
    """Where the floor's rows for `scope` differ from the report's figures (and the windows from
    the one rule); empty when the floor computes the report's rows. Clinic-wide scopes only, as
    the floor."""
    if scope.therapist is not None:
        raise ValueError("The floor is clinic-wide: compare it with a scope without a therapist.")
    found: list[str] = []

    found += _compare(
        "stage",
        {(k1, k2): (a, b) for k1, k2, a, b, _ in _rows(rows, "stage")},
        {
            (c.stage.pk, c.side): (c.at_start, c.at_end)
            for c in figures.stage_distribution(scope)
            if c.at_start or c.at_end
        },
    )
    found += _compare(
        "change",
        {k2: n for _, k2, n, _, _ in _rows(rows, "change")},
        {reason: n for reason, n in figures.changes_by_reason(scope).items() if n},
    )
    found += _compare(
        "time_at_stage",
        {
            k1: (n, shortest / 86400, longest / 86400)
            for k1, _, n, shortest, longest in _rows(rows, "time_at_stage")
        },
        {t.stage.pk: (t.progressions, t.shortest, t.longest) for t in figures.time_at_stage(scope)},
    )
    found += _compare(
        "backlog",
        {k1: (k2, since) for k1, k2, since, _, _ in _rows(rows, "backlog")},
        {
            w.prescription.pk: (w.prescription.side, _seconds(w.ready_since))
            for w in figures.readiness_backlog(scope)
        },
    )

    pain = figures.pain(scope)
    # One row of totals (painful sets and patients are NULL in SQL when there are none).
    found += _compare(
        "pain",
        dict(enumerate(tuple(v or 0 for v in r[2:]) for r in _rows(rows, "pain"))),
        {0: (pain.sets, pain.painful_sets, pain.painful_patients)},
    )
    found += _compare(
        "pain_alert",
        {(k1, k2): (high, n, opened) for k1, k2, high, n, opened in _rows(rows, "pain_alert")},
        {
            (a.patient.pk, a.side): (
                a.alert.highest_pain,
                a.alert.sets,
                _seconds(a.alert.opened_at),
            )
            for a in pain.open_alerts
        },
    )

    found += _compare(
        "sessions",
        {
            (k1, k2): (n, prescribed / 86400, weighted / prescribed)
            for k1, k2, n, prescribed, weighted in _rows(rows, "sessions")
        },
        {
            (s.patient.pk, s.side): (s.sessions, s.days_prescribed, s.target)
            for s in figures.sessions_per_week(scope)
        },
    )

    rule = rule_windows(scope)
    found += _compare(
        "window",
        {(k1, idx): (status, n) for k1, status, n, idx, _ in _rows(rows, "window")},
        rule,
        source="rule",
    )
    found += _compare(
        "report window",
        {
            (w.patient.pk, w.window.index): (w.window.status.value, w.window.data_days)
            for w in figures.monitoring_windows(scope)
        },
        rule,
        left="report",
        source="rule",
    )

    clearance = figures.clearance(scope)
    waiting = {}
    for patient, _ in clearance.waiting:
        status = clearance_status(
            patient,
            scope.today,
            patient.clearance_notes.all(),
            review_soon_days=scope.clinic.review_soon_days,
        )
        waiting[patient.pk] = (status.state.value, status.note.pk if status.note else None)
    found += _compare(
        "clearance",
        {k1: (state, note) for k1, state, note, _, _ in _rows(rows, "clearance")},
        {
            **waiting,
            **{
                patient.pk: ("due_for_review", note.pk)
                for patient, note in clearance.due_for_review
            },
        },
    )
    return found
