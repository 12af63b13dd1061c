"""A patient's plan and progress per side, as the patient sees them (API `me/plan/`, `me/progress/`,
and the "my exercises" page). Read models only: the rules they show live in `progression`,
`adherence` and `patients.clearance`; each function runs a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone

from exercises.adherence import AdherenceBand, logged_days_by_side, rolling_window, week_of
from exercises.models import Prescription, SetLog, StageChange
from exercises.progression import active_prescriptions_with_state
from exercises.services import pause_reason
from patients.clearance import clearance_problem_for_patient
from patients.models import Patient, Side


@dataclass(frozen=True)
class SidePlan:
    side: str
    prescription: Prescription | None
    status: str  # "active" | "paused" | "none"
    status_reason: str | None  # for the care team: what is missing and what to record
    status_reason_for_patient: str | None  # the same, worded for the patient
    ready_to_progress: bool
    ladder_complete: bool


def plan_for(patient: Patient, *, now: dt.datetime | None = None) -> list[SidePlan]:
    """Both sides, left then right: the active prescription, paused or not, ready or not."""
    now = now or timezone.now()
    today = patient.clinic.local_date(now)
    by_side = {p.side: p for p in active_prescriptions_with_state([patient.pk], now=now)}
    notes = list(patient.clearance_notes.all()) if patient.requires_clearance else []
    plans = []
    for side in Side.values:
        p = by_side.get(side)
        if p is None:
            plans.append(SidePlan(side, None, "none", None, None, False, False))
            continue
        p.patient = patient
        reason = pause_reason(p, today, notes)
        for_patient = clearance_problem_for_patient(patient, p.stage.number, today, notes)
        ready = bool(p.is_ready)
        plans.append(
            SidePlan(
                side=side,
                prescription=p,
                status="paused" if reason else "active",
                status_reason=reason,
                status_reason_for_patient=for_patient,
                ready_to_progress=ready,
                ladder_complete=ready and not p.has_next_stage,
            )
        )
    return plans


@dataclass(frozen=True)
class SideProgress:
    plan: SidePlan
    best_reps_at_stage: int | None
    sessions_this_week: int
    history: list[StageChange]

    @property
    def side(self) -> str:
        return self.plan.side


@dataclass(frozen=True)
class Progress:
    data_days_last_30: int
    adherence_band: AdherenceBand
    sides: list[SideProgress]


def progress_for(patient: Patient, *, now: dt.datetime | None = None) -> Progress:
    now = now or timezone.now()
    today = patient.clinic.local_date(now)
    plans = plan_for(patient, now=now)
    current = [p.prescription.pk for p in plans if p.prescription is not None]
    best = dict(
        SetLog.objects.valid()
        .filter(prescription_id__in=current)
        .values("prescription_id")
        .annotate(best=Max("reps"))
        .values_list("prescription_id", "best")
    )
    week_days = logged_days_by_side(patient, *week_of(today))
    history: dict[str, list[StageChange]] = defaultdict(list)
    for change in (
        StageChange.objects.filter(patient=patient)
        .select_related("from_stage", "to_stage")
        .order_by("at", "id")
    ):
        history[change.side].append(change)
    window = rolling_window(patient, today)
    return Progress(
        data_days_last_30=window.data_days,
        adherence_band=window.band,
        sides=[
            SideProgress(
                plan=plan,
                best_reps_at_stage=best.get(plan.prescription.pk) if plan.prescription else None,
                sessions_this_week=len(week_days[plan.side]),
                history=history[plan.side],
            )
            for plan in plans
        ],
    )
