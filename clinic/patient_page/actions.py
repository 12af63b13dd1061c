"""The patient page's actions: each a POST through a service.

Roles at the door: `patient_for_change` gives everyone outside the patient's clinic the same 404
as a patient that does not exist, and staff (who read the page) a 403.

A refusal (the clearance gate, the top of the ladder, a paused prescription) is shown on the page
next to the form, with what was typed kept; a success is a message after a redirect back to the
part of the page that changed. Dates and times are in the clinic's time zone
(`timezone.override` around each action).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic.forms import add_service_errors
from clinic.http import AuthenticatedRequest
from clinic.patient_page.forms import (
    ClearanceNoteForm,
    LogSetForm,
    PainReviewForm,
    StageChangeForm,
    StartPrescriptionForm,
    VoidSetForm,
)
from clinic.patient_page.page import ruled_out, stage_numbers, stages
from clinic.patient_page.views import page_response
from exercises.models import Prescription, SetLog, Source
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_log,
    set_void,
)
from patients.access import patient_for_change
from patients.clearance import clearance_status
from patients.models import Patient, Side
from patients.services import clearance_note_record


def patient_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST only, signed in, a patient of the user's clinics (404) whom they may change (403)."""

    @require_POST
    @login_required
    @wraps(view)
    def wrapped(request: AuthenticatedRequest, pk: int, **kwargs: Any) -> HttpResponse:
        patient = patient_for_change(request.user, pk)
        with timezone.override(patient.clinic.tzinfo):
            return view(request, patient, **kwargs)

    return wrapped


@patient_action
def prescription_start_view(
    request: AuthenticatedRequest, patient: Patient, side: str
) -> HttpResponse:
    if side not in Side.values:
        raise Http404("No such side.")
    all_stages = stages()
    form = StartPrescriptionForm(
        request.POST,
        prefix=f"start-{side}",
        stages=all_stages,
        clinic=patient.clinic,
        ruled_out=ruled_out(patient, side, all_stages),
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
    return page_response(request, patient, bound={f"start-{side}": form})


@patient_action
def prescription_advance_view(
    request: AuthenticatedRequest, patient: Patient, rx: int
) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_advance, "advanced to")


@patient_action
def prescription_regress_view(
    request: AuthenticatedRequest, patient: Patient, rx: int
) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_regress, "regressed to")


@patient_action
def prescription_stop_view(
    request: AuthenticatedRequest, patient: Patient, rx: int
) -> HttpResponse:
    return _change_stage(request, patient, rx, prescription_stop, "stopped at")


def _change_stage(
    request: AuthenticatedRequest,
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
    return page_response(request, patient, bound={f"change-{prescription.side}": form})


@patient_action
def set_log_view(request: AuthenticatedRequest, patient: Patient) -> HttpResponse:
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
                SetLogRequest.from_input(
                    data, patient=patient, by=request.user, source=Source.CLINIC
                )
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
    return page_response(request, patient, bound={"log": form})


@patient_action
def set_void_view(request: AuthenticatedRequest, patient: Patient, set_pk: int) -> HttpResponse:
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
    return page_response(request, patient, void=(target.pk, form))


@patient_action
def clearance_record_view(request: AuthenticatedRequest, patient: Patient) -> HttpResponse:
    form = ClearanceNoteForm(
        request.POST,
        request.FILES,
        prefix="clearance",
        stage_numbers=stage_numbers(),
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
    return page_response(request, patient, bound={"clearance": form})


@patient_action
def pain_review_view(request: AuthenticatedRequest, patient: Patient, side: str) -> HttpResponse:
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
    return page_response(request, patient, bound={f"review-{side}": form})


def _back(patient: Patient, anchor: str, *, page: str | None = None) -> HttpResponse:
    url = reverse("patient-detail", args=[patient.pk])
    if page and page.isdigit():
        url += f"?page={page}"
    return redirect(f"{url}#{anchor}")
