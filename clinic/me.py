"""The patient's own page: today's plan and a log form that works well on a phone."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic.views import requires
from patients.access import patient_of


@require_GET
@requires(lambda user: patient_of(user) is not None)
def me(request: HttpRequest) -> HttpResponse:
    patient = patient_of(request.user)
    prescriptions = patient.prescriptions.active().select_related("stage").order_by("side")
    return render(request, "clinic/me.html", {"patient": patient, "prescriptions": prescriptions})
