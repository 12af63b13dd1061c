"""The per-patient progression report (`/reports/patients/<id>/`): to print, file or send on.

The page's read model is `clinic.reports.patient_report.build_patient_report` (what the page holds,
and what it costs), from the figures of `clinic.reports.patient_figures`. Every table downloads as
CSV with `?format=csv&table=<name>`.

The period is `?from=YYYY-MM-DD&to=YYYY-MM-DD` in the clinic's calendar days
(`clinic.reports.filters.PeriodForm`); by default from the start of monitoring to today. A bad date
gets a 400 naming the field, never a report for a period nobody asked for.

Roles at the door: staff and therapists of the patient's clinic (`staff_patient_for_user`); a
patient gets 403, anyone from another clinic 404. Every page and download is recorded in the
patient's access history.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.audit.recording import report_access
from clinic.http import AuthenticatedRequest
from clinic.reports.csv_export import table_download, wants_csv
from clinic.reports.filters import PeriodForm
from clinic.reports.patient_report import build_patient_report
from patients.access import is_clinic_staff, staff_patient_for_user
from patients.access_events import recorded


@require_GET
@requires(is_clinic_staff)
def patient_report(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    now = timezone.now()
    with timezone.override(patient.clinic.tzinfo):
        form = PeriodForm(request.GET, today=patient.clinic.local_date(now))
        if not form.is_valid():
            if wants_csv(request):
                return HttpResponseBadRequest(
                    "\n".join(form.messages()), content_type="text/plain; charset=utf-8"
                )
            context = {"patient": patient, "form": form, "errors": form.messages()}
            return render(request, "clinic/reports/patient_report.html", context, status=400)
        report = build_patient_report(
            patient, form.cleaned_data["from"], form.cleaned_data["to"], now=now, by=request.user
        )
        if wants_csv(request):
            return recorded(
                table_download(request, report.tables, f"{patient.record_number}-progression"),
                **report_access(request, report.period, patient=patient),
            )
        period = PeriodForm(
            initial={"from": report.period.first, "to": report.period.last}, today=report.today
        )
        return recorded(
            render(
                request,
                "clinic/reports/patient_report.html",
                {**report.context(), "form": period},
            ),
            **report_access(request, report.period, patient=patient),
        )
