"""The patient page for the care team, its actions, and the patient's audit history.

Roles at the door: `staff_patient_for_user` gives everyone outside the patient's clinic (another
clinic's therapist, the patient themselves, a user without a role) the same 404 as a patient that
does not exist. Staff read the page and the history; their POSTs get 403 (`patient_for_change`).

Every action is a POST through a service. A refusal (the clearance gate, the top of the ladder, a
paused prescription) is shown on the page next to the form, with what was typed kept; a success is
a message after a redirect back to the part of the page that changed. Dates and times are shown in
the clinic's time zone (`timezone.override` around each view).

Cost: the page runs a fixed number of queries however many sets the patient has (a test pins it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.audit.history import SHOW, history_context
from clinic.charts.progression import Chart, ChartSet, ChartStep, progression_chart
from clinic.patient_page.forms import (
    ClearanceNoteForm,
    LogSetForm,
    PainReviewForm,
    StageChangeForm,
    StartPrescriptionForm,
    VoidSetForm,
    add_service_errors,
)
from exercises.adherence import (
    logged_days_by_side,
    patient_current_window,
    rolling_window,
    week_of,
)
from exercises.models import Prescription, SetLog, Source, Stage, StageChange
from exercises.plan import SidePlan, plan_for
from exercises.progression import AlertKind, PainAlert, open_pain_alerts, patient_alerts
from exercises.services import (
    pain_review_record,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_log,
    set_void,
)
from patients.access import can_change_clinical, patient_for_change, staff_patient_for_user
from patients.access_events import record_access, recorded
from patients.clearance import clearance_problem, clearance_status, note_in_effect
from patients.models import AccessAction, AffectedSide, ClearanceNote, Patient, Side
from patients.services import clearance_note_record

LOGS_PER_PAGE = 20
HISTORY_PER_PAGE = 50
# The chart shows the last twelve weeks: long enough for a whole ladder at the usual pace.
CHART_DAYS = 84


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
    start_form: StartPrescriptionForm | None = None
    change_form: StageChangeForm | None = None
    # The side's open pain alert and the form to review it.
    pain_alert: PainAlert | None = None
    review_form: PainReviewForm | None = None
    # Refusals of a form this card no longer shows (e.g. the side was stopped in another tab).
    errors: list[str] = field(default_factory=list)
    affected: bool = False

    @property
    def side(self) -> str:
        return self.plan.side

    @property
    def prescription(self) -> Prescription | None:
        return self.plan.prescription


# -- pages ---------------------------------------------------------------------------------------


@require_GET
@login_required
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    with timezone.override(patient.clinic.tzinfo):
        if request.htmx and request.htmx.target == "logs":
            # Paging through the logs swaps only that section. It shows sets (reps, pain, notes)
            # of any page asked for, and the headers can be sent without loading the page first,
            # so it is a view of the record like the full page (docs/audit.md).
            logs = _logs_context(request, patient, can_change_clinical(request.user, patient))
            return recorded(
                render(request, "clinic/patient_page/patient_detail.html#logs", logs),
                user=request.user,
                action=AccessAction.PATIENT_PAGE,
                patient=patient,
                # The page shown (the paginator turns a bad `?page=` into a real one), never
                # what was typed; its count was already run by the paginator.
                detail=f"sets, page {logs['logs'].number} of {logs['logs'].paginator.num_pages}",
            )
        # A full page load is a view of the record (docs/audit.md).
        return recorded(
            _page(request, patient),
            user=request.user,
            action=AccessAction.PATIENT_PAGE,
            patient=patient,
        )


@require_GET
@login_required
def patient_history(request: HttpRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    tz = patient.clinic.tzinfo
    with timezone.override(tz):
        context = history_context(
            patient,
            tz,
            show=request.GET.get("show", ""),
            page=request.GET.get("page"),
            per_page=HISTORY_PER_PAGE,
        )
        # Recorded after rendering, so the page never lists the very view that shows it.
        return recorded(
            render(request, "clinic/patient_page/patient_history.html", context),
            user=request.user,
            action=AccessAction.PATIENT_HISTORY,
            patient=patient,
            detail=SHOW[context["show"]] if context["show"] else "",
        )


# -- actions -------------------------------------------------------------------------------------


def patient_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST only, signed in, a patient of the user's clinics (404) whom they may change (403)."""

    @require_POST
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, pk: int, **kwargs: Any) -> HttpResponse:
        patient = patient_for_change(request.user, pk)
        with timezone.override(patient.clinic.tzinfo):
            return view(request, patient, **kwargs)

    return wrapped


@patient_action
def prescription_start_view(request: HttpRequest, patient: Patient, side: str) -> HttpResponse:
    if side not in Side.values:
        raise Http404("No such side.")
    stages = _stages()
    form = StartPrescriptionForm(
        request.POST,
        prefix=f"start-{side}",
        stages=stages,
        clinic=patient.clinic,
        ruled_out=_ruled_out(patient, side, stages),
    )
    if form.is_valid():
        try:
            started = prescription_start(
                patient=patient, side=side, by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"{started.get_side_display()} side started at stage {started.stage.number}: "
                f"{started.stage.name}.",
            )
            return _back(patient, f"side-{side}")
    return _page(request, patient, bound={f"start-{side}": form})


@patient_action
def prescription_advance_view(request: HttpRequest, patient: Patient, rx: int) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_advance, "advanced to")


@patient_action
def prescription_regress_view(request: HttpRequest, patient: Patient, rx: int) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_regress, "regressed to")


@patient_action
def prescription_stop_view(request: HttpRequest, patient: Patient, rx: int) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_stop, "stopped at")


def _change_stage(
    request: HttpRequest,
    patient: Patient,
    rx: int,
    service: Callable[..., Prescription],
    verb: str,
) -> HttpResponse:
    prescription = (
        Prescription.objects.filter(patient=patient, pk=rx)
        .select_related("stage__ladder", "patient__clinic")
        .first()
    )
    if prescription is None:
        raise Http404("No such prescription for this patient.")
    form = StageChangeForm(request.POST, prefix=f"change-{prescription.side}")
    if form.is_valid():
        try:
            result = service(
                prescription=prescription, by=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            message = (
                f"{result.get_side_display()} side {verb} stage {result.stage.number}: "
                f"{result.stage.name}."
            )
            if service is prescription_stop:
                message += " Start a new prescription on this side when the patient is ready."
            messages.success(request, message)
            return _back(patient, f"side-{prescription.side}")
    return _page(request, patient, bound={f"change-{prescription.side}": form})


@patient_action
def set_log_view(request: HttpRequest, patient: Patient) -> HttpResponse:
    active = list(
        Prescription.objects.active()
        .filter(patient=patient)
        .select_related("stage")
        .order_by("side")
    )
    form = LogSetForm(request.POST, prefix="log", prescriptions=active, clinic=patient.clinic)
    if form.is_valid():
        data = form.cleaned_data
        try:
            logged = set_log(
                patient=patient,
                prescription=data["prescription"],
                reps=data["reps"],
                pain=data["pain"],
                effort=data["effort"],
                performed_at=data["performed_at"],
                note=data["note"],
                client_id=data["client_id"],
                by=request.user,
                source=Source.CLINIC,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            s = logged.set_log
            if logged.created:
                messages.success(
                    request,
                    f"Set saved: {s.reps} reps, pain {s.pain}/10, "
                    f"{s.get_side_display().lower()} side at stage {s.stage.number}.",
                )
            else:
                messages.info(request, "This set was already saved; nothing new was stored.")
            return _back(patient, "logs")
    return _page(request, patient, bound={"log": form})


@patient_action
def set_void_view(request: HttpRequest, patient: Patient, set_pk: int) -> HttpResponse:
    target = SetLog.objects.filter(patient=patient, pk=set_pk).first()
    if target is None:
        raise Http404("No such set for this patient.")
    form = VoidSetForm(request.POST)
    if form.is_valid():
        try:
            set_void(set_log=target, by=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Set of {target.reps} reps voided. It stays in the record but no longer counts.",
            )
            return _back(patient, "logs", page=request.GET.get("page"))
    return _page(request, patient, void=(target.pk, form))


@patient_action
def clearance_record_view(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = ClearanceNoteForm(
        request.POST,
        request.FILES,
        prefix="clearance",
        stage_numbers=_stage_numbers(),
        patient=patient,
    )
    if form.is_valid():
        required_before = patient.requires_clearance
        try:
            note = clearance_note_record(
                patient=patient, recorded_by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            status = clearance_status(patient, patient.clinic.local_date(timezone.now()))
            if required_before and not patient.requires_clearance:
                text = (
                    f"Clearance note recorded: {patient.first_name} no longer needs medical "
                    f"clearance, on the sign-off of {note.signed_by_name} "
                    f"({note.signed_by_credentials})."
                )
            elif not required_before:
                text = (
                    f"Clearance note recorded. {patient.first_name} now needs medical clearance "
                    f"({patient.clearance_reason}). {status.summary}"
                )
            else:
                text = f"Clearance note recorded. {status.summary}"
            messages.success(request, text)
            return _back(patient, "clearance")
    return _page(request, patient, bound={"clearance": form})


@require_GET
@login_required
def clearance_document(request: HttpRequest, pk: int, note_pk: int) -> HttpResponse:
    """The scanned copy of a clearance note, for the patient's care team only (everyone else gets
    the same 404 as for a note that does not exist). Each opening is an access event."""
    patient = staff_patient_for_user(request.user, pk)
    note = ClearanceNote.objects.filter(patient=patient, pk=note_pk).exclude(document="").first()
    if note is None:
        raise Http404("No scanned copy for this note.")
    try:
        handle = note.document.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The scanned copy is missing from storage.") from exc
    record_access(
        user=request.user,
        action=AccessAction.CLEARANCE_DOCUMENT,
        patient=patient,
        detail=f"clearance note #{note.pk}",
    )
    response = FileResponse(
        handle,
        content_type=note.document_type,
        as_attachment=False,
        filename=note.document_name or f"clearance-{note.pk}",
    )
    # A health record: never kept by a browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@patient_action
def pain_review_view(request: HttpRequest, patient: Patient, side: str) -> HttpResponse:
    if side not in Side.values:
        raise Http404("No such side.")
    form = PainReviewForm(request.POST, prefix=f"review-{side}")
    if form.is_valid():
        try:
            review = pain_review_record(
                patient=patient,
                side=side,
                by=request.user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                seen_through=form.cleaned_data["seen_through"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Pain alert on the {side} side reviewed: {review.get_outcome_display().lower()}.",
            )
            return _back(patient, f"side-{side}")
    return _page(request, patient, bound={f"review-{side}": form})


def _back(patient: Patient, anchor: str, *, page: str | None = None) -> HttpResponse:
    url = reverse("patient-detail", args=[patient.pk])
    if page and page.isdigit():
        url += f"?page={page}"
    return redirect(f"{url}#{anchor}")


# -- the page ------------------------------------------------------------------------------------


def _stages() -> list[Stage]:
    return list(Stage.objects.select_related("ladder").order_by("ladder__name", "number"))


def _ruled_out(
    patient: Patient,
    side: str,
    stages: list[Stage],
    notes: list[ClearanceNote] | None = None,
    today: dt.date | None = None,
) -> dict[int, str]:
    """The stages the clearance rules out for starting `side` today, with why (by stage id)."""
    today = today or patient.clinic.local_date(timezone.now())
    if notes is None:
        notes = list(patient.clearance_notes.all())
    return {
        stage.pk: problem
        for stage in stages
        if (problem := clearance_problem(patient, stage, side, today, notes))
    }


def _stage_numbers(stages: list[Stage] | None = None) -> list[int]:
    return sorted({s.number for s in (stages if stages is not None else _stages())})


def _logs_context(request: HttpRequest, patient: Patient, can_change: bool) -> dict[str, Any]:
    logs = (
        SetLog.objects.filter(patient=patient)
        .with_alert_threshold()
        .select_related("stage", "logged_by", "voided_by")
        .order_by("-performed_at", "-id")
    )
    page: Page[SetLog] = Paginator(logs, LOGS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "patient": patient,
        "logs": page,
        "can_change": can_change and patient.is_active,
    }


def _page(
    request: HttpRequest,
    patient: Patient,
    *,
    bound: dict[str, forms.Form] | None = None,
    void: tuple[int, VoidSetForm] | None = None,
) -> HttpResponse:
    """The whole page; `bound` holds a refused form (by its prefix) to show with its errors."""
    bound = bound or {}
    now = timezone.now()
    clinic = patient.clinic
    today = clinic.local_date(now)
    is_therapist_here = can_change_clinical(request.user, patient)
    can_change = is_therapist_here and patient.is_active

    stages = _stages()
    plans = plan_for(patient, now=now)
    week_days = logged_days_by_side(patient, *week_of(today))
    changes = list(
        StageChange.objects.filter(patient=patient)
        .select_related("from_stage", "to_stage", "by")
        .order_by("-at", "-id")
    )
    charts = _charts(patient, plans, changes, now)
    notes = list(
        ClearanceNote.objects.filter(patient=patient).newest_first().select_related("recorded_by")
    )
    pain = open_pain_alerts(Q(patient=patient), [clinic], until=now)

    sides = []
    for plan in plans:
        p = plan.prescription
        view = SideView(
            plan=plan,
            label=Side(plan.side).label,
            affected=patient.affected_side in (plan.side, AffectedSide.BOTH),
            pain_alert=pain.get((patient.pk, plan.side)),
        )
        start_key, change_key = f"start-{plan.side}", f"change-{plan.side}"
        review_key = f"review-{plan.side}"
        if p is not None:
            view.next_stage = plan.next_stage
            view.previous_stage = next(
                (
                    s
                    for s in reversed(stages)
                    if s.ladder_id == p.stage.ladder_id and s.number < p.stage.number
                ),
                None,
            )
            if view.next_stage is not None:
                view.next_stage_blocked = clearance_problem(
                    patient, view.next_stage, plan.side, today, notes
                )
            # Within the pain ceiling (`PrescriptionQuerySet.with_readiness`).
            view.best_reps = p.best_reps
            view.sessions_this_week = len(week_days[plan.side])
        view.chart = charts.get(plan.side)
        if can_change and p is None:
            view.ruled_out = _ruled_out(patient, plan.side, stages, notes, today)
            # With every stage ruled out there is nothing to choose: the card says why instead
            # of offering a form that cannot succeed.
            view.nothing_allowed = len(view.ruled_out) == len(stages)
            if not view.nothing_allowed:
                view.start_form = bound.get(start_key) or StartPrescriptionForm(  # type: ignore[assignment]
                    prefix=start_key, stages=stages, clinic=clinic, ruled_out=view.ruled_out
                )
        elif can_change:
            view.change_form = bound.get(change_key) or StageChangeForm(prefix=change_key)  # type: ignore[assignment]
        if is_therapist_here and view.pain_alert is not None:
            view.review_form = bound.get(review_key) or PainReviewForm(prefix=review_key)  # type: ignore[assignment]
        view.errors = [
            str(e)
            for key in (start_key, change_key, review_key)
            if key in bound
            and bound[key] is not view.start_form
            and bound[key] is not view.change_form
            and bound[key] is not view.review_form
            for e in bound[key].errors.get(NON_FIELD_ERRORS, [])
        ]
        sides.append(view)

    active = [p.prescription for p in plans if p.prescription]
    current = patient_current_window(patient, today=today)
    context = {
        "patient": patient,
        "clinic": clinic,
        "today": today,
        "is_therapist_here": is_therapist_here,
        "sides": sides,
        # Pain alerts are shown (with their review form) on their side's card.
        "alerts": [
            a
            for a in patient_alerts(patient, now=now, pain_alerts=pain)
            if a.kind != AlertKind.PAIN
        ],
        "pain_alerts": [v for v in sides if v.pain_alert is not None],
        "window": rolling_window(patient, today),
        "monitoring_window": current,
        "thresholds": clinic.thresholds,
        "changes": changes,
        "notes": notes,
        "note_in_effect": note_in_effect(notes, today),
        "clearance": clearance_status(patient, today, notes),
        "login_username": patient.user.get_username() if patient.user_id else None,
        "log_form": bound.get("log")
        or (
            LogSetForm(prefix="log", prescriptions=active, clinic=clinic)
            if can_change and active
            else None
        ),
        "clearance_form": bound.get("clearance")
        or (
            ClearanceNoteForm(
                prefix="clearance", stage_numbers=_stage_numbers(stages), patient=patient
            )
            if can_change
            else None
        ),
        "void_set_id": void[0] if void else None,
        "void_form": void[1] if void else None,
        **_logs_context(request, patient, is_therapist_here),
    }
    return render(request, "clinic/patient_page/patient_detail.html", context)


def _charts(
    patient: Patient, plans: list[SidePlan], changes: list[StageChange], now: dt.datetime
) -> dict[str, Chart]:
    """One chart per side that has sets in the last CHART_DAYS days."""
    since = now - dt.timedelta(days=CHART_DAYS)
    sets: dict[str, list[ChartSet]] = defaultdict(list)
    for side, at, reps, pain, stage, alert_above in (
        SetLog.objects.valid()
        .filter(patient=patient, performed_at__gte=since)
        .with_alert_threshold()
        .order_by("performed_at", "id")
        .values_list("side", "performed_at", "reps", "pain", "stage__number", "alert_threshold")
    ):
        sets[side].append(ChartSet(at, reps, pain, stage, alert_above))
    steps: dict[str, list[ChartStep]] = defaultdict(list)
    for change in reversed(changes):  # oldest first
        if change.at >= since:
            steps[change.side].append(ChartStep.of(change))
    charts = {}
    for plan in plans:
        side_sets, side_steps = sets[plan.side], steps[plan.side]
        if not side_sets:
            continue  # stage steps alone make an empty chart; the stage history lists them
        moments = [s.performed_at for s in side_sets] + [s.at for s in side_steps]
        p = plan.prescription
        charts[plan.side] = progression_chart(
            side_label=Side(plan.side).label,
            sets=side_sets,
            steps=side_steps,
            start=max(min(moments) - dt.timedelta(hours=12), since),
            end=now,
            ready_at_reps=p.reps_threshold if p else patient.clinic.progress_at_reps,
            tz=patient.clinic.tzinfo,
            element_id=f"chart-{plan.side}",
        )
    return charts
