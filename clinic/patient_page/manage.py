"""Patient management for therapists: create and edit a patient, give a patient a login, disable
that login (a lost phone, a shared password) or enable it again.

Roles at the door: only therapists reach these pages. Staff read patients on the patient page but
change nothing (403 here); a patient or another clinic's therapist gets the same 404 as for a
patient that does not exist. Writes go through `patients.services`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clinic.forms import add_service_errors
from clinic.http import AuthenticatedRequest
from clinic.patient_page.patient_forms import (
    PatientForm,
    PatientLoginActiveForm,
    PatientLoginForm,
)
from patients import services
from patients.access import clinics_for, patient_for_change
from patients.models import Patient, Role


def _posted(request: AuthenticatedRequest) -> QueryDict | None:
    # Not `request.POST or None`: an empty POST must still be a bound form, with its errors.
    return request.POST if request.method == "POST" else None


@require_http_methods(["GET", "POST"])
@login_required
def patient_create(request: AuthenticatedRequest) -> HttpResponse:
    clinics = list(clinics_for(request.user, Role.THERAPIST))
    if not clinics:
        raise PermissionDenied("Only therapists add patients.")
    form = PatientForm(
        _posted(request),
        clinics=clinics,
        ask_clinic=True,
        initial={"primary_therapist": request.user.pk},
    )
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(
                clinic=form.chosen_clinic, by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"{patient.full_name} added. Start a prescription on a side below."
            )
            return redirect("patient-detail", pk=patient.pk)
    return render(
        request,
        "clinic/patient_page/patient_form.html",
        {"form": form, "patient": None, "clinic": clinics[0] if len(clinics) == 1 else None},
    )


@require_http_methods(["GET", "POST"])
@login_required
def patient_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    patient = patient_for_change(request.user, pk)
    form = PatientForm(
        _posted(request),
        clinics=[patient.clinic],
        ask_clinic=False,
        clearance_required=patient.requires_clearance,
        initial=PatientForm.initial_for(patient),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(patient=patient, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{patient.full_name}'s details saved.")
            return redirect("patient-detail", pk=patient.pk)
    return render(
        request, "clinic/patient_page/patient_form.html", {"form": form, "patient": patient}
    )


@require_http_methods(["GET", "POST"])
@login_required
def patient_login(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    patient = patient_for_change(request.user, pk)
    if request.method == "POST" and "active" in request.POST:
        return _login_set_active(request, patient)
    form = PatientLoginForm(
        _posted(request),
        initial={"username": PatientLoginForm.suggested_username(patient)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = services.patient_login_create(
                patient=patient,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Login created for {patient.full_name}: username {user.get_username()}. Give "
                f"them the password in person; they sign in at this site or in the phone app.",
            )
            return redirect("patient-detail", pk=patient.pk)
    existing = patient.user if patient.user_id else None
    return render(
        request,
        "clinic/patient_page/patient_login_form.html",
        {"form": form, "patient": patient, "existing": existing},
    )


def _login_set_active(request: AuthenticatedRequest, patient: Patient) -> HttpResponse:
    """Disable the patient's login (signs them out everywhere) or enable it again."""
    form = PatientLoginActiveForm(request.POST)
    if not form.is_valid():
        # An ErrorList yields its messages as strings.
        return HttpResponseBadRequest(" ".join(map(str, form.errors["active"])))
    try:
        services.patient_login_set_active(
            patient=patient, active=form.cleaned_data["active"], by=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("patient-login", pk=patient.pk)
    if form.cleaned_data["active"]:
        messages.success(request, f"{patient.full_name} can sign in again with their password.")
    else:
        messages.success(
            request,
            f"{patient.full_name}'s login is disabled: signed out of the phone app and the web "
            "page, and unable to sign in until you enable it again.",
        )
    return redirect("patient-detail", pk=patient.pk)
