"""The "Sources" page (`/sources/`): one line per clinical claim, with its source
(`exercises.sources`). Linked from every stage's instructions and from the start and advance forms.

Every signed-in user may read it (therapists, staff, patients): it holds no patient data. The
numbers shown are those in force for the user's clinic (the first, for someone in several).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from exercises.models import Stage
from exercises.sources import claims
from patients.access import clinics_for, patient_of
from patients.thresholds import DEFAULTS

LADDER = "hip-clamshell"


@require_GET
@login_required
def sources(request: HttpRequest) -> HttpResponse:
    patient = patient_of(request.user)
    clinic = patient.clinic if patient is not None else clinics_for(request.user).first()
    values = clinic.thresholds if clinic is not None else DEFAULTS
    stages = list(Stage.objects.filter(ladder__slug=LADDER).order_by("number"))
    return render(
        request,
        "clinic/sources/sources.html",
        {"claims": claims(stages, values), "clinic": clinic, "is_patient": patient is not None},
    )
