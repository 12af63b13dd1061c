"""The progression figures of the clinic report: patients per stage and side at the start and the
end of the range, the stage changes in it, and the days spent at a stage before progressing
(docs/reports.md, "Progression"). Two queries for the stages, one for the changes and at most two
for the time at each stage, however many patients there are.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
from dataclasses import dataclass

from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Window,
)
from django.db.models.functions import Abs, RowNumber

from clinic.reports.clinic_figures.scope import Scope, in_days
from exercises.models import ChangeReason, Prescription, Stage, StageChange
from patients.models import Side

# Quartiles of "days at a stage", by linear interpolation (PostgreSQL's percentile_cont, Python's
# statistics.quantiles(method="inclusive")).
QUARTILES = (0.25, 0.5, 0.75)


def _active_at(moment: dt.datetime) -> Q:
    return Q(started_at__lte=moment) & (Q(ended_at__isnull=True) | Q(ended_at__gt=moment))


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
        by_stage.setdefault(stage_id, (n, {}))[1][rank] = in_days(spent)
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
