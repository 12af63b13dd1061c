"""The therapist dashboard: the caseload with stages, adherence and alerts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.views import requires
from exercises.progression import alerts_for
from patients.access import clinics_for, is_therapist
from patients.models import Patient, Role


@require_GET
@requires(is_therapist)
def dashboard(request: HttpRequest) -> HttpResponse:
    clinics = clinics_for(request.user, Role.THERAPIST)
    caseload = list(
        Patient.objects.active()
        .filter(clinic__in=clinics, primary_therapist=request.user)
        .select_related("clinic")
    )
    alerts = alerts_for(caseload, now=timezone.now())
    rows = [(p, alerts[p.pk]) for p in caseload]
    return render(request, "clinic/dashboard.html", {"clinics": clinics, "rows": rows})
