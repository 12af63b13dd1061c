"""A patient's audit history: the changes (`changes.py`) and who viewed or exported what, in one
list, newest first (`history_context`).

Views and exports come from `patients.AccessEvent` (written by `patients/access_events.py`), and so
do the patient's login being disabled or enabled again (the user table has no history).

Cost: the eight queries of the changes, plus two for the access events (a count and one page's
worth): ten in all, however long the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.db.models import QuerySet

from clinic.audit.changes import KINDS, AuditEntry, patient_audit
from clinic.forms import display_name
from patients.models import (
    AccessAction,
    AccessEvent,
    AccessEventQuerySet,
    Patient,
)

# -- views and exports, merged with the changes ---------------------------------------------------


# How the history page names each access: a badge (viewed, exported or changed) and what was read
# or changed. The full sentences (`AccessAction` labels) are for the clinic's access log and the
# admin.
EXPORTS = {
    AccessAction.PATIENT_REPORT_CSV,
    AccessAction.FHIR_EXPORT,
    AccessAction.CLINIC_REPORT_CSV,
}
# Not reads: who cut off or restored the patient's login. They are access events because the user
# table has no history of its own; the history page files them with the changes.
LOGIN_CHANGES = {AccessAction.LOGIN_DISABLED, AccessAction.LOGIN_ENABLED}
ACCESS_SUBJECTS: dict[str, str] = {
    AccessAction.PATIENT_PAGE: "Patient page",
    AccessAction.PATIENT_REPORT: "Progression report",
    AccessAction.PATIENT_REPORT_CSV: "Progression report table (CSV)",
    AccessAction.PATIENT_HISTORY: "Audit history",
    AccessAction.FHIR_EXPORT: "Whole record as a FHIR bundle",
    AccessAction.CLINIC_REPORT_CSV: "Clinic report table (CSV)",
    AccessAction.CLINIC_ACCESS_LOG: "Clinic access log",
    AccessAction.ADMIN_VIEW: "Record in the admin",
    AccessAction.LOGIN_DISABLED: "Patient's login disabled",
    AccessAction.LOGIN_ENABLED: "Patient's login enabled again",
    AccessAction.CLEARANCE_DOCUMENT: "Scanned copy of a clearance note",
}


@dataclass(frozen=True)
class AccessEntry:
    """A view or export of the patient's data, as the history page lists it."""

    at: dt.datetime
    who: str
    action: str  # "Viewed", "Exported" or "Changed" (a login disabled or enabled)
    subject: str
    detail: str
    kind: str = "access"

    @classmethod
    def of(cls, event: AccessEvent) -> AccessEntry:
        # The account may be gone (SET_NULL): the username kept on the event still says who.
        who = display_name(event.user) if event.user is not None else event.username
        return cls(
            at=event.at,
            who=who,
            action=_badge(event.action),
            subject=ACCESS_SUBJECTS.get(event.action, event.get_action_display()),
            detail=event.detail,
        )


def _badge(action: str) -> str:
    if action in EXPORTS:
        return "Exported"
    if action in LOGIN_CHANGES:
        return "Changed"
    return "Viewed"


# What `?show=` offers on the history page, in order: everything (""), all changes, only views
# and exports, or the changes to one kind of record. A login disabled or enabled counts as a change
# to the patient's details.
CHANGES, VIEWS = "changes", "views"
SHOW: dict[str, str] = {
    "": "Everything",
    CHANGES: "Changes only",
    VIEWS: "Views and exports only",
    **{key: f"Changes: {label.lower()}" for key, (label, _) in KINDS.items()},
}


class HistoryList:
    """Changes and access events in one newest-first sequence, for Django's Paginator.

    The changes are already in memory (they are diffed there). Access events pile up with every
    visit, so only a count and the newest `stop` of them are fetched for the page asked for: page
    n of the merged list can hold no access event older than the (n × page size)-th newest one.
    """

    def __init__(self, changes: list[AuditEntry], events: QuerySet[AccessEvent] | None) -> None:
        self.changes, self.events = changes, events
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = len(self.changes) + (
                self.events.count() if self.events is not None else 0
            )
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[AuditEntry | AccessEntry]:
        stop = index.stop if index.stop is not None else self.count()
        newest = (
            [AccessEntry.of(e) for e in self.events.select_related("user")[:stop]]
            if self.events is not None
            else []
        )
        # Both lists are newest first already; a stable sort on the time keeps each one's order.
        merged: list[AuditEntry | AccessEntry] = sorted(
            [*self.changes, *newest], key=lambda e: e.at, reverse=True
        )
        return merged[index]


def history_context(
    patient: Patient, tz: ZoneInfo, *, show: str, page: str | None, per_page: int
) -> dict[str, Any]:
    """What the history page shows: `show` (one of SHOW, anything else means everything) and
    one page of the merged list."""
    if show not in SHOW:
        show = ""
    changes = (
        [] if show == VIEWS else patient_audit(patient, tz, kind=show if show in KINDS else None)
    )
    every = AccessEvent.objects.filter(patient=patient)
    events: AccessEventQuerySet[AccessEvent] | None
    if show == VIEWS:
        events = every.exclude(action__in=LOGIN_CHANGES)
    elif show in (CHANGES, "details"):
        events = every.filter(action__in=LOGIN_CHANGES)
    elif show:
        events = None
    else:
        events = every
    entries = HistoryList(changes, events.newest_first() if events is not None else None)
    return {
        "patient": patient,
        # Paginator only counts and slices, which is all a HistoryList does.
        "page": Paginator(entries, per_page).get_page(page),  # type: ignore[arg-type]  # above
        "total": entries.count(),
        "show": show,
        "shows": list(SHOW.items()),
    }
