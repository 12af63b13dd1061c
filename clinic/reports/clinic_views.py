"""The clinic report at `/reports/`: for staff and therapists of a clinic, over a date range and
optionally one therapist's caseload. Every table downloads as CSV (`?format=csv&table=<name>`) with
the filters of the page. The filters are `clinic.reports.filters.ReportFilters`; the page's read
model is `clinic.reports.clinic_report.build_report`, from the figures of
`clinic.reports.clinic_figures` (defined in docs/reports.md).

Roles at the door: signed in with a role in some clinic (`requires(is_clinic_staff)`; a patient
gets 403); the clinic chosen must be one of the user's, otherwise 404, the same as for a clinic
that does not exist, so no one ever sees another clinic's figures.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.audit.recording import report_access
from clinic.reports.clinic_report import build_report
from clinic.reports.csv_export import table_download, wants_csv
from clinic.reports.filters import ReportFilters
from patients.access import is_clinic_staff
from patients.access_events import recorded


@require_GET
@requires(is_clinic_staff)
def clinic_report(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = ReportFilters(request.GET, user=request.user, now=now)
    if not form.is_valid():
        if "clinic" in form.errors:
            # Another clinic's id (or none that exists): the same answer either way.
            raise Http404("No such clinic.")
        return render(request, "clinic/reports/clinic_report.html", {"form": form}, status=400)
    scope = form.scope()
    clinic = scope.clinic
    # Show the dates the report covers in the form, defaults included.
    form.data["start"], form.data["end"] = scope.first.isoformat(), scope.last.isoformat()
    with timezone.override(clinic.tzinfo):
        report = build_report(scope, pages=request.GET)
        if wants_csv(request):
            return recorded(
                table_download(
                    request, report.all_tables, f"{clinic.slug}-{scope.first}-{scope.last}"
                ),
                **report_access(request, scope, clinic=clinic),
            )
        query = request.GET.copy()
        query.pop("format", None)
        query.pop("table", None)
        return render(
            request,
            "clinic/reports/clinic_report.html",
            {
                "form": form,
                "report": report,
                "scope": scope,
                "query": query.urlencode(),
                "generated_at": now,
            },
        )
