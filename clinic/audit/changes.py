"""A patient's changes, as the history page shows them: who changed what, and when.

Changes come from django-simple-history: the history rows of the patient, their clearance notes,
prescriptions, stage changes and set logs. Each change is compared with the record before it
(`diff_against`) to show the before → after of every changed field; a creation shows the values it
started with.

Cost: one query per history table, one for the people named in the values and one for the stages
— eight, however long the history (the rows are grouped and compared in memory).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

from clinic.forms import display_name
from exercises.models import DOSE_FIELDS, PainReview, Prescription, SetLog, Stage, StageChange
from patients.models import (
    PRECAUTION_FIELDS,
    ClearanceNote,
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
    Prescription: ("side", "stage", *DOSE_FIELDS, "notes"),
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
    rows = _history_rows(patient, kind)
    fmt = _formatter(rows, tz)
    entries = []
    for rank, (model, model_rows) in enumerate(rows.items()):
        subject = _SUBJECTS[model]
        previous: dict[int, Any] = {}
        for row in model_rows:
            before = previous.get(row.id)
            previous[row.id] = row
            entries.append(
                AuditEntry(
                    at=row.history_date,
                    who=display_name(row.history_user) if row.history_user else SYSTEM,
                    subject=subject(row, fmt),
                    action=ACTIONS.get(row.history_type, row.history_type),
                    changes=_changes(model, row, before, fmt),
                    order=rank,
                    reason=row.history_change_reason or "",
                )
            )
    entries.sort(key=lambda e: (e.at, e.order), reverse=True)
    return entries


def _history_rows(patient: Patient, kind: str | None) -> dict[type[Model], list[Any]]:
    """The history rows of each kind of record, oldest first: one query per history table."""
    sources: list[tuple[type[Model], QuerySet[Any]]] = [
        (Patient, Patient.history.filter(id=patient.pk)),
        (ClearanceNote, ClearanceNote.history.filter(patient_id=patient.pk)),
        (Prescription, Prescription.history.filter(patient_id=patient.pk)),
        (StageChange, StageChange.history.filter(patient_id=patient.pk)),
        (SetLog, SetLog.history.filter(patient_id=patient.pk)),
        (PainReview, PainReview.history.filter(patient_id=patient.pk)),
    ]
    if kind in KINDS:
        sources = [(model, qs) for model, qs in sources if model is KINDS[kind][1]]
    return {
        model: list(qs.select_related("history_user").order_by("history_date", "history_id"))
        for model, qs in sources
    }


def _formatter(rows: dict[type[Model], list[Any]], tz: ZoneInfo) -> _Formatter:
    """Names for the people and the stages the rows' values point to: one query each."""
    user_ids = {
        getattr(row, f"{name}_id")
        for model_rows in rows.values()
        for row in model_rows
        for name in USER_FIELDS
        if hasattr(row, f"{name}_id")
    } - {None}
    users = {u.pk: display_name(u) for u in get_user_model().objects.filter(pk__in=user_ids)}
    stages = {s.pk: f"stage {s.number}: {s.name}" for s in Stage.objects.all()}
    return _Formatter(tz, users, stages)


def _changes(model: type[Model], row: Any, before: Any, fmt: _Formatter) -> list[FieldChange]:
    """What one history row changed: the values a record started with, or before → after."""
    if before is None or row.history_type == "+":
        return [
            FieldChange(fmt.label(row, name), None, fmt.value(row, name))
            for name in CREATED_FIELDS[model]
            if getattr(row, _attname(row, name)) not in (None, "")
        ]
    delta = row.diff_against(before, excluded_fields=NEVER_SHOWN)
    return [
        FieldChange(
            fmt.label(row, c.field),
            fmt.format(row, c.field, c.old),
            fmt.format(row, c.field, c.new),
        )
        for c in delta.changes
    ]


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
