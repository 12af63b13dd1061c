"""What a report request records in the access log (the views and exports of patient data)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from django.http import HttpRequest

from clinic.reports.csv_export import wants_csv
from patients.access_events import DETAIL_MAX
from patients.models import (
    AccessAction,
    Clinic,
    Patient,
)

# -- what a report request records -------------------------------------------------------------


class _Period(Protocol):
    @property
    def first(self) -> dt.date: ...
    @property
    def last(self) -> dt.date: ...


def report_access(
    request: HttpRequest,
    period: _Period,
    *,
    patient: Patient | None = None,
    clinic: Clinic | None = None,
) -> dict[str, Any]:
    """The access event (as `patients.access_events.recorded` takes it) of a report request: the page of a
    patient's progression report, or a download of one table of it or of the clinic report.

    The clinic report's page is not recorded: it shows figures across the clinic, and its
    downloads (the rows leaving the system) are. `detail` names the table and the period; the table
    name comes from the query string, but `recorded` stores it only when the download succeeded,
    that is when it named one of the report's tables.
    """
    days = f"{period.first:%Y-%m-%d} to {period.last:%Y-%m-%d}"
    if wants_csv(request):
        action = AccessAction.PATIENT_REPORT_CSV if patient else AccessAction.CLINIC_REPORT_CSV
        detail = f"{request.GET.get('table', '')}, {days}"
    else:
        action, detail = AccessAction.PATIENT_REPORT, days
    return {
        "user": request.user,
        "action": action,
        "patient": patient,
        "clinic": clinic,
        "detail": detail[:DETAIL_MAX],
    }
