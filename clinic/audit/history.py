"""A patient's audit history: who changed what, and who viewed or exported what, and when.

Changes come from django-simple-history: the history rows of the patient, their clearance notes,
prescriptions, stage changes and set logs. Each change is compared with the record before it
(`diff_against`) to show the before → after of every changed field; a creation shows the values it
started with. Views and exports come from `patients.AccessEvent` (see `patients/access_events.py`), and so
do the patient's login being disabled or enabled again (the user table has no history). The page
shows both in one list, newest first (`history_context`).

Cost: one query per history table, one for the people named in the values and one for the stages
— eight, however long the history (the rows are grouped and compared in memory) — plus two for
the access events (a count and one page's worth): ten in all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from clinic.forms import display_name
from clinic.reports.csv_export import wants_csv
from exercises.models import PainReview, Prescription, SetLog, Stage, StageChange
from patients.access_events import DETAIL_MAX
from patients.models import (
    PRECAUTION_FIELDS,
    AccessAction,
    AccessEvent,
    ClearanceNote,
    Clinic,
    Patient,
)

SYSTEM = "system"

# Shown when a record is created (a change shows only what changed). `patient` is left out: every
# row on the page is about this patient.
CREATED_FIELDS: dict[type[Model], tuple[str, ...]] = {
    Patient: (
        "record_number",
        "first_name",
        "last_name",
        "date_of_birth",
        "affected_side",
        "requires_clearance",
        "clearance_reason",
        "primary_therapist",
        "user",
    ),
    ClearanceNote: (
        "decision",
        "reason",
        "procedure_on",
        "weight_bearing",
        "max_stage",
        *PRECAUTION_FIELDS,
        "operated_side",
        "restrictions",
        "signed_by_name",
        "signed_by_credentials",
        "signed_on",
        "review_on",
        "document_name",
    ),
    Prescription: (
        "side",
        "stage",
        "target_sets",
        "target_reps",
        "hold_at_top_seconds",
        "sessions_per_week",
        "progress_at_reps",
        "pain_ceiling",
        "pain_alert_above",
        "auto_advance",
        "notes",
    ),
    StageChange: ("side", "from_stage", "to_stage", "reason", "note"),
    SetLog: ("side", "stage", "reps", "pain", "effort", "performed_at", "source", "note"),
    PainReview: ("side", "outcome", "highest_pain", "painful_sets", "note"),
}
# `document` is the file's place in the private storage: the name shown is `document_name`.
NEVER_SHOWN = {
    "id",
    "patient",
    "created_at",
    "recorded_at",
    "logged_at",
    "client_id",
    "document",
    "document_type",
}
USER_FIELDS = {
    "primary_therapist",
    "user",
    "recorded_by",
    "prescribed_by",
    "by",
    "logged_by",
    "voided_by",
}
STAGE_FIELDS = {"stage", "from_stage", "to_stage"}
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str | None  # None for a creation
    after: str


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    who: str
    subject: str
    action: str
    changes: list[FieldChange] = field(default_factory=list)
    order: int = 0
    kind: str = "change"
    # Why, when the change says it: e.g. whose sign-off ended a clearance requirement.
    reason: str = ""


# What the history page can be narrowed to (`?show=`), in the order it offers them.
KINDS: dict[str, tuple[str, type[Model]]] = {
    "details": ("Patient details", Patient),
    "clearance": ("Clearance notes", ClearanceNote),
    "prescriptions": ("Prescriptions", Prescription),
    "stages": ("Stage changes", StageChange),
    "sets": ("Sets", SetLog),
    "pain": ("Pain reviews", PainReview),
}


def patient_audit(patient: Patient, tz: ZoneInfo, *, kind: str | None = None) -> list[AuditEntry]:
    """Every history row about this patient (or only one `kind` of record), newest first."""
    sources: list[tuple[type[Model], Iterable[Any]]] = [
        (Patient, Patient.history.filter(id=patient.pk)),
        (ClearanceNote, ClearanceNote.history.filter(patient_id=patient.pk)),
        (Prescription, Prescription.history.filter(patient_id=patient.pk)),
        (StageChange, StageChange.history.filter(patient_id=patient.pk)),
        (SetLog, SetLog.history.filter(patient_id=patient.pk)),
        (PainReview, PainReview.history.filter(patient_id=patient.pk)),
    ]
    if kind in KINDS:
        sources = [(model, qs) for model, qs in sources if model is KINDS[kind][1]]
    rows = {
        model: list(qs.select_related("history_user").order_by("history_date", "history_id"))
        for model, qs in sources
    }
    user_ids = {
        getattr(row, f"{name}_id")
        for model_rows in rows.values()
        for row in model_rows
        for name in USER_FIELDS
        if hasattr(row, f"{name}_id")
    } - {None}
    users = {u.pk: display_name(u) for u in get_user_model().objects.filter(pk__in=user_ids)}
    stages = {s.pk: f"stage {s.number}: {s.name}" for s in Stage.objects.all()}
    fmt = _Formatter(tz, users, stages)

    entries = []
    for rank, (model, model_rows) in enumerate(rows.items()):
        subject = _SUBJECTS[model]
        previous: dict[int, Any] = {}
        for row in model_rows:
            before = previous.get(row.id)
            previous[row.id] = row
            if before is None or row.history_type == "+":
                changes = [
                    FieldChange(fmt.label(row, name), None, fmt.value(row, name))
                    for name in CREATED_FIELDS[model]
                    if getattr(row, _attname(row, name)) not in (None, "")
                ]
            else:
                delta = row.diff_against(before, excluded_fields=NEVER_SHOWN)
                changes = [
                    FieldChange(
                        fmt.label(row, c.field),
                        fmt.format(row, c.field, c.old),
                        fmt.format(row, c.field, c.new),
                    )
                    for c in delta.changes
                ]
            entries.append(
                AuditEntry(
                    at=row.history_date,
                    who=display_name(row.history_user) if row.history_user else SYSTEM,
                    subject=subject(row, fmt),
                    action=ACTIONS.get(row.history_type, row.history_type),
                    changes=changes,
                    order=rank,
                    reason=row.history_change_reason or "",
                )
            )
    entries.sort(key=lambda e: (e.at, e.order), reverse=True)
    return entries


def _attname(row: Any, name: str) -> str:
    return row._meta.get_field(name).attname


class _Formatter:
    def __init__(self, tz: ZoneInfo, users: dict[int, str], stages: dict[int, str]) -> None:
        self.tz, self.users, self.stages = tz, users, stages

    def label(self, row: Any, name: str) -> str:
        return str(row._meta.get_field(name).verbose_name).capitalize()

    def value(self, row: Any, name: str) -> str:
        return self.format(row, name, getattr(row, _attname(row, name)))

    def format(self, row: Any, name: str, value: Any) -> str:
        if value is None or value == "":
            return "—"
        if name in USER_FIELDS:
            return self.users.get(value, f"user #{value}")
        if name in STAGE_FIELDS:
            return self.stages.get(value, f"stage #{value}")
        choices = row._meta.get_field(name).choices
        if choices:
            return str(dict(choices).get(value, value))
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dt.datetime):
            return f"{value.astimezone(self.tz):%d %b %Y %H:%M}"
        if isinstance(value, dt.date):
            return f"{value:%d %b %Y}"
        return str(value)


def _side(row: Any) -> str:
    return str(row.side).capitalize()


_SUBJECTS: dict[type[Model], Callable[[Any, _Formatter], str]] = {
    Patient: lambda row, fmt: "Patient details",
    ClearanceNote: lambda row, fmt: f"Clearance note signed {row.signed_on:%d %b %Y}",
    Prescription: lambda row, fmt: (
        f"Prescription: {_side(row)} side, {fmt.stages.get(row.stage_id, 'stage')}"
    ),
    StageChange: lambda row, fmt: f"Stage change: {_side(row)} side, {row.get_reason_display()}",
    SetLog: lambda row, fmt: (
        f"Set: {_side(row)} side, {row.reps} reps, "
        f"{row.performed_at.astimezone(fmt.tz):%d %b %H:%M}"
    ),
    PainReview: lambda row, fmt: f"Pain alert reviewed: {_side(row)} side",
}


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
    events: QuerySet[AccessEvent] | None = AccessEvent.objects.filter(patient=patient)
    if show == VIEWS:
        events = events.exclude(action__in=LOGIN_CHANGES)
    elif show in (CHANGES, "details"):
        events = events.filter(action__in=LOGIN_CHANGES)
    elif show:
        events = None
    entries = HistoryList(changes, events.newest_first() if events is not None else None)
    return {
        "patient": patient,
        "page": Paginator(entries, per_page).get_page(page),
        "total": entries.count(),
        "show": show,
        "shows": list(SHOW.items()),
    }


# -- what a report request records -------------------------------------------------------------


class _Period(Protocol):
    first: dt.date
    last: dt.date


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
