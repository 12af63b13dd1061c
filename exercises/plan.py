"""A patient's plan and progress per side, as the patient sees them (API `me/plan/`, `me/progress/`,
and the "my exercises" page). Read models only: the rules they show live in `progression`,
`adherence` and `patients.clearance`; each function runs a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from exercises.adherence import AdherenceBand, Rolling, logged_days_by_side, rolling_window, week_of
from exercises.models import PrescriptionWithState, SetLog, Stage, StageChange
from exercises.progression import active_prescriptions_with_state, next_stages
from exercises.services import pause_reason
from patients.clearance import clearance_problem_for_patient
from patients.models import Patient, Side


@dataclass(frozen=True)
class SidePlan:
    side: str
    prescription: PrescriptionWithState | None
    status: str  # "active" | "paused" | "none"
    status_reason: str | None  # for the care team: what is missing and what to record
    status_reason_for_patient: str | None  # the same, worded for the patient
    ready_to_progress: bool
    ladder_complete: bool
    # Ready, but the clearance rules the next stage out: the therapist must choose what next.
    next_stage_blocked: bool = False
    # The stage above this one on the ladder (None at the top, or with no prescription).
    next_stage: Stage | None = None


def plan_for(patient: Patient, *, now: dt.datetime | None = None) -> list[SidePlan]:
    """Both sides, left then right: the active prescription, paused or not, ready or not."""
    now = now or timezone.now()
    today = patient.clinic.local_date(now)
    active = active_prescriptions_with_state([patient.pk], now=now)
    by_side = {p.side: p for p in active}
    following = next_stages(active)
    notes = list(patient.clearance_notes.all()) if patient.requires_clearance else []
    plans = []
    for side in Side.values:
        p = by_side.get(side)
        if p is None:
            plans.append(SidePlan(side, None, "none", None, None, False, False))
            continue
        p.patient = patient
        reason = pause_reason(p, today, notes)
        for_patient = clearance_problem_for_patient(patient, p.stage, p.side, today, notes)
        ready = bool(p.is_ready)
        nxt = following.get(p.pk)
        plans.append(
            SidePlan(
                side=side,
                prescription=p,
                status="paused" if reason else "active",
                status_reason=reason,
                status_reason_for_patient=for_patient,
                ready_to_progress=ready,
                ladder_complete=ready and nxt is None,
                next_stage_blocked=ready
                and nxt is not None
                and clearance_problem_for_patient(patient, nxt, side, today, notes) is not None,
                next_stage=nxt,
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
    # The last WINDOW_DAYS days, ending today.
    window: Rolling
    sides: list[SideProgress]

    @property
    def data_days_last_30(self) -> int:
        return self.window.data_days

    @property
    def adherence_band(self) -> AdherenceBand:
        return self.window.band

    @property
    def changes(self) -> list[StageChange]:
        """Every stage change of both sides, newest first (the care team's stage history)."""
        return sorted(
            (c for side in self.sides for c in side.history),
            key=lambda c: (c.at, c.pk),
            reverse=True,
        )


def progress_for(patient: Patient, *, now: dt.datetime | None = None) -> Progress:
    now = now or timezone.now()
    today = patient.clinic.local_date(now)
    plans = plan_for(patient, now=now)
    week_days = logged_days_by_side(patient, *week_of(today))
    history: dict[str, list[StageChange]] = defaultdict(list)
    for change in (
        StageChange.objects.filter(patient=patient)
        # `by`: the care team's patient page names who changed each stage.
        .select_related("from_stage", "to_stage", "by")
        .order_by("at", "id")
    ):
        history[change.side].append(change)
    return Progress(
        window=rolling_window(patient, today),
        sides=[
            SideProgress(
                plan=plan,
                # Within the pain ceiling (`PrescriptionQuerySet.with_readiness`).
                best_reps_at_stage=plan.prescription.best_reps if plan.prescription else None,
                sessions_this_week=len(week_days[plan.side]),
                history=history[plan.side],
            )
            for plan in plans
        ],
    )


@dataclass(frozen=True)
class PainWarning:
    """What a patient is told after a set above the pain alert threshold, instead of "Saved".

    One wording for the "my exercises" page and the API (the phone app shows it as it is)."""

    pain: int
    threshold: int
    clinic_name: str
    clinic_phone: str
    # Done today (the clinic's day), or earlier and synced now from a phone that was offline.
    today: bool = True

    @property
    def title(self) -> str:
        return "Stop this exercise for today" if self.today else "That set hurt too much"

    @property
    def steps(self) -> list[str]:
        call = (
            f"call {self.clinic_name} on {self.clinic_phone}"
            if self.clinic_phone
            else f"contact {self.clinic_name}"
        )
        first = (
            f"Pain {self.pain}/10 is more than this exercise should cause (it should stay at "
            f"{self.threshold} or below). Your set is saved, and your therapist will see it."
        )
        if not self.today:
            return [
                first,
                "Do not do this exercise again until your therapist has talked to you.",
                f"If you still have this pain, {call}.",
                "If the pain is severe, or you cannot put weight on your leg, get urgent medical "
                "help.",
            ]
        return [
            first,
            "Stop this exercise now and rest. Do not do it again until your therapist has "
            "talked to you.",
            f"If the pain does not settle by tomorrow, {call}.",
            "If the pain is severe, or you cannot put weight on your leg, get urgent medical help.",
        ]

    @property
    def message(self) -> str:
        return f"{self.title}. " + " ".join(self.steps)


def pain_warning(set_log: SetLog) -> PainWarning | None:
    """The warning for a stored set above its pain alert threshold, or None."""
    threshold = set_log.prescription.effective_pain_alert_above
    if set_log.pain <= threshold:
        return None
    clinic = set_log.patient.clinic
    today = clinic.local_date(set_log.performed_at) >= clinic.local_date(timezone.now())
    return PainWarning(set_log.pain, threshold, clinic.name, clinic.phone, today=today)
