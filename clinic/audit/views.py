"""The clinic's access log at `/audit/`: every view and export of its patients' data, newest first.

The per-patient history page shows a patient's own views and exports; this page adds what belongs
to no one patient (downloads of the clinic report's tables) and lets a reviewer scan a whole
clinic. For staff and therapists of the clinic, who need no admin rights to read it.

Roles at the door: signed in with a role in some clinic (`requires(is_clinic_staff)`: a patient or
a user without a role gets 403); the clinic chosen must be one of the user's, otherwise 404, the
same as for a clinic that does not exist. Reading the log is itself recorded.

Cost: a fixed number of queries (the clinic, a count and one page of events with their users and
patients, the insert), however long the log (a test pins it).
"""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.accounts.forms import ClinicChoiceForm
from clinic.audit.history import EXPORTS
from patients.access import is_clinic_staff
from patients.access_events import recorded
from patients.models import AccessAction, AccessEvent, Clinic

PER_PAGE = 50
CLINIC_WIDE, PATIENTS = "clinic", "patients"


class AccessLogFilters(ClinicChoiceForm):
    scope = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[
            ("", "Every view and export"),
            (PATIENTS, "Patients' records only"),
            (CLINIC_WIDE, "Clinic-wide downloads only"),
        ],
        error_messages={
            "invalid_choice": "scope: choose every view and export, patients' records only or "
            "clinic-wide downloads only."
        },
    )


@require_GET
@requires(is_clinic_staff)
def access_log(request: HttpRequest) -> HttpResponse:
    form = AccessLogFilters(request.GET, user=request.user)
    if not form.is_valid():
        if "clinic" in form.errors:
            # Another clinic's id (or one that does not exist): the same answer either way.
            raise Http404("No such clinic.")
        return render(request, "clinic/audit/access_log.html", {"form": form}, status=400)
    clinic: Clinic = form.cleaned_data["clinic"]
    scope = form.cleaned_data["scope"]
    events = AccessEvent.objects.filter(clinic=clinic).select_related("user", "patient")
    if scope == CLINIC_WIDE:
        events = events.filter(patient__isnull=True)
    elif scope == PATIENTS:
        events = events.filter(patient__isnull=False)
    page = Paginator(events.newest_first(), PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    with timezone.override(clinic.tzinfo):
        response = render(
            request,
            "clinic/audit/access_log.html",
            {
                "form": form,
                "clinic": clinic,
                "page": page,
                "exports": EXPORTS,
                "query": query.urlencode(),
            },
        )
    return recorded(
        response, user=request.user, action=AccessAction.CLINIC_ACCESS_LOG, clinic=clinic
    )
