"""The patient page's read model: what the care team sees of one patient, in named sections.

`page_context` assembles the sections; each is built by its own function from `PageFacts`, the
rows they share (read once). The per-side progress (plan, best reps, sessions this week, stage
history, the rolling window) is `exercises.plan.progress_for`, the same read model as the
patient's own page, so both pages show the same numbers.

Cost: a fixed number of queries however many sets the patient has (a test pins it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.utils import timezone

from clinic.charts.progression import Chart, ChartSet, ChartStep, progression_chart
from clinic.http import AuthenticatedRequest
from clinic.patient_page.forms import (
    ClearanceNoteForm,
    LogSetForm,
    PainReviewForm,
    StageChangeForm,
    StartPrescriptionForm,
    VoidSetForm,
)
from exercises.adherence import patient_current_window
from exercises.models import AlertThreshold, Prescription, SetLog, Stage
from exercises.plan import Progress, SidePlan, SideProgress, progress_for
from exercises.progression import AlertKind, PainAlert, open_pain_alerts, patient_alerts
from patients.access import can_change_clinical
from patients.clearance import clearance_problem, clearance_status, note_in_effect
from patients.models import AffectedSide, ClearanceNote, Clinic, Patient, Side

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import WithAnnotations

LOGS_PER_PAGE = 20
# The chart shows the last twelve weeks: long enough for a whole ladder at the usual pace.
CHART_DAYS = 84

# A refused form to show again with its errors, by its prefix ("start-left", "log", …).
Bound = dict[str, forms.Form]


@dataclass
class SideView:
    plan: SidePlan
    label: str
    next_stage: Stage | None = None
    previous_stage: Stage | None = None
    # Why the clearance rules out the next stage on this side (the advance button is disabled).
    next_stage_blocked: str | None = None
    # Stages the clearance rules out for a start on this side, with why (the start form).
    ruled_out: dict[int, str] = field(default_factory=dict)
    nothing_allowed: bool = False
    best_reps: int | None = None
    sessions_this_week: int = 0
    chart: Chart | None = None
    start_form: forms.Form | None = None
    change_form: forms.Form | None = None
    # The side's open pain alert and the form to review it.
    pain_alert: PainAlert | None = None
    review_form: forms.Form | None = None
    # Refusals of a form this card no longer shows (e.g. the side was stopped in another tab).
    errors: list[str] = field(default_factory=list)
    affected: bool = False

    @property
    def side(self) -> str:
        return self.plan.side

    @property
    def prescription(self) -> Prescription | None:
        return self.plan.prescription


@dataclass(frozen=True)
class PageFacts:
    """What the sections share, read once per page."""

    patient: Patient
    now: dt.datetime
    today: dt.date
    is_therapist_here: bool
    stages: list[Stage]
    progress: Progress
    notes: list[ClearanceNote]
    pain: dict[tuple[int, str], PainAlert]

    @property
    def clinic(self) -> Clinic:
        return self.patient.clinic

    @property
    def can_change(self) -> bool:
        return self.is_therapist_here and self.patient.is_active


def stages() -> list[Stage]:
    return list(Stage.objects.select_related("ladder").order_by("ladder__name", "number"))


def stage_numbers(all_stages: list[Stage] | None = None) -> list[int]:
    return sorted({s.number for s in (all_stages if all_stages is not None else stages())})


def ruled_out(
    patient: Patient,
    side: str,
    all_stages: list[Stage],
    notes: list[ClearanceNote] | None = None,
    today: dt.date | None = None,
) -> dict[int, str]:
    """The stages the clearance rules out for starting `side` today, with why (by stage id)."""
    today = today or patient.clinic.local_date(timezone.now())
    if notes is None:
        notes = list(patient.clearance_notes.all())
    return {
        stage.pk: problem
        for stage in all_stages
        if (problem := clearance_problem(patient, stage, side, today, notes))
    }


def logs_context(
    request: AuthenticatedRequest, patient: Patient, can_change: bool
) -> dict[str, Any]:
    """The sets section: one page of the patient's sets, newest first (htmx swaps it alone)."""
    logs = (
        SetLog.objects.filter(patient=patient)
        .with_alert_threshold()
        .select_related("stage", "logged_by", "voided_by")
        .order_by("-performed_at", "-id")
    )
    page: Page[WithAnnotations[SetLog, AlertThreshold]] = Paginator(logs, LOGS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "patient": patient,
        "logs": page,
        "can_change": can_change and patient.is_active,
    }


def page_context(
    request: AuthenticatedRequest,
    patient: Patient,
    *,
    bound: Bound | None = None,
    void: tuple[int, VoidSetForm] | None = None,
) -> dict[str, Any]:
    """The whole page; `bound` holds a refused form (by its prefix) to show with its errors."""
    bound = bound or {}
    facts = _facts(request.user, patient)
    sides = _sides(facts, bound)
    return {
        "patient": patient,
        "clinic": facts.clinic,
        "today": facts.today,
        "is_therapist_here": facts.is_therapist_here,
        "sides": sides,
        "pain_alerts": [v for v in sides if v.pain_alert is not None],
        **_alerts(facts),
        **_adherence(facts),
        **_history(facts),
        **_forms(facts, bound),
        "void_set_id": void[0] if void else None,
        "void_form": void[1] if void else None,
        **logs_context(request, patient, facts.is_therapist_here),
    }


def _facts(user: User, patient: Patient) -> PageFacts:
    now = timezone.now()
    return PageFacts(
        patient=patient,
        now=now,
        today=patient.clinic.local_date(now),
        is_therapist_here=can_change_clinical(user, patient),
        stages=stages(),
        progress=progress_for(patient, now=now),
        notes=list(
            ClearanceNote.objects.filter(patient=patient)
            .newest_first()
            .select_related("recorded_by")
        ),
        pain=open_pain_alerts(Q(patient=patient), [patient.clinic], until=now),
    )


# -- sections ------------------------------------------------------------------------------------


def _alerts(facts: PageFacts) -> dict[str, Any]:
    # Pain alerts are shown (with their review form) on their side's card.
    alerts = patient_alerts(facts.patient, now=facts.now, pain_alerts=facts.pain)
    return {"alerts": [a for a in alerts if a.kind != AlertKind.PAIN]}


def _adherence(facts: PageFacts) -> dict[str, Any]:
    return {
        "window": facts.progress.window,
        "monitoring_window": patient_current_window(facts.patient, today=facts.today),
        "thresholds": facts.clinic.thresholds,
    }


def _history(facts: PageFacts) -> dict[str, Any]:
    """The stage history and the clearance: the record a therapist checks before a change."""
    patient, notes = facts.patient, facts.notes
    return {
        "changes": facts.progress.changes,
        "notes": notes,
        "note_in_effect": note_in_effect(notes, facts.today),
        "clearance": clearance_status(patient, facts.today, notes),
        "login_username": patient.user.get_username() if patient.user else None,
    }


def _forms(facts: PageFacts, bound: Bound) -> dict[str, Any]:
    """The page-wide forms (a set logged in clinic, a clearance note), for the care team only; a
    refused one comes back bound. Built only where the page shows them."""
    active = [s.plan.prescription for s in facts.progress.sides if s.plan.prescription]
    log_form = bound.get("log")
    if log_form is None and facts.can_change and active:
        log_form = LogSetForm(prefix="log", prescriptions=active, clinic=facts.clinic)
    clearance_form = bound.get("clearance")
    if clearance_form is None and facts.can_change:
        clearance_form = ClearanceNoteForm(
            prefix="clearance", stage_numbers=stage_numbers(facts.stages), patient=facts.patient
        )
    return {"log_form": log_form, "clearance_form": clearance_form}


def _sides(facts: PageFacts, bound: Bound) -> list[SideView]:
    charts = _charts(facts)
    views = []
    for progress in facts.progress.sides:
        view = _side(facts, progress)
        view.chart = charts.get(progress.side)
        _side_forms(view, facts, bound)
        views.append(view)
    return views


def _side(facts: PageFacts, progress: SideProgress) -> SideView:
    plan, patient = progress.plan, facts.patient
    view = SideView(
        plan=plan,
        label=Side(plan.side).label,
        affected=patient.affected_side in (plan.side, AffectedSide.BOTH),
        pain_alert=facts.pain.get((patient.pk, plan.side)),
    )
    p = plan.prescription
    if p is None:
        return view
    view.next_stage = plan.next_stage
    view.previous_stage = next(
        (
            s
            for s in reversed(facts.stages)
            if s.ladder_id == p.stage.ladder_id and s.number < p.stage.number
        ),
        None,
    )
    if view.next_stage is not None:
        view.next_stage_blocked = clearance_problem(
            patient, view.next_stage, plan.side, facts.today, facts.notes
        )
    # Within the pain ceiling (`PrescriptionQuerySet.with_readiness`).
    view.best_reps = progress.best_reps_at_stage
    view.sessions_this_week = progress.sessions_this_week
    return view


def _side_forms(view: SideView, facts: PageFacts, bound: Bound) -> None:
    """The side's forms: start (no prescription) or change, and the pain review; a refused one
    comes back bound, and the refusals of a form the card no longer shows are listed."""
    start_key, change_key = f"start-{view.side}", f"change-{view.side}"
    review_key = f"review-{view.side}"
    if facts.can_change and view.prescription is None:
        view.ruled_out = ruled_out(facts.patient, view.side, facts.stages, facts.notes, facts.today)
        # With every stage ruled out there is nothing to choose: the card says why instead
        # of offering a form that cannot succeed.
        view.nothing_allowed = len(view.ruled_out) == len(facts.stages)
        if not view.nothing_allowed:
            view.start_form = bound.get(start_key) or StartPrescriptionForm(
                prefix=start_key, stages=facts.stages, clinic=facts.clinic, ruled_out=view.ruled_out
            )
    elif facts.can_change:
        view.change_form = bound.get(change_key) or StageChangeForm(prefix=change_key)
    if facts.is_therapist_here and view.pain_alert is not None:
        view.review_form = bound.get(review_key) or PainReviewForm(prefix=review_key)
    shown = (view.start_form, view.change_form, view.review_form)
    view.errors = [
        str(e)
        for key in (start_key, change_key, review_key)
        if key in bound and all(bound[key] is not form for form in shown)
        for e in bound[key].errors.get(NON_FIELD_ERRORS, [])
    ]


def _charts(facts: PageFacts) -> dict[str, Chart]:
    """One chart per side that has sets in the last CHART_DAYS days."""
    since = facts.now - dt.timedelta(days=CHART_DAYS)
    sets: dict[str, list[ChartSet]] = defaultdict(list)
    for side, at, reps, pain, stage, alert_above in (
        SetLog.objects.valid()
        .filter(patient=facts.patient, performed_at__gte=since)
        .with_alert_threshold()
        .order_by("performed_at", "id")
        .values_list("side", "performed_at", "reps", "pain", "stage__number", "alert_threshold")
    ):
        sets[side].append(ChartSet(at, reps, pain, stage, alert_above))
    charts = {}
    for progress in facts.progress.sides:
        side_sets = sets[progress.side]
        if not side_sets:
            continue  # stage steps alone make an empty chart; the stage history lists them
        # The side's history is oldest first, as the chart draws it.
        steps = [ChartStep.of(c) for c in progress.history if c.at >= since]
        moments = [s.performed_at for s in side_sets] + [s.at for s in steps]
        p = progress.plan.prescription
        charts[progress.side] = progression_chart(
            side_label=Side(progress.side).label,
            sets=side_sets,
            steps=steps,
            start=max(min(moments) - dt.timedelta(hours=12), since),
            end=facts.now,
            ready_at_reps=p.reps_threshold if p else facts.clinic.progress_at_reps,
            tz=facts.clinic.tzinfo,
            element_id=f"chart-{progress.side}",
        )
    return charts
