"""What a clinic export holds, model by model, and how each model's rows of one clinic are selected.

`PARTS` is the file's order and content; `EXCLUDED` names the models that point at clinic data or
users but stay out, each with the reason. tests/clinic/test_backup.py fails when a model is in
neither, so a new model cannot silently miss the backups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q, QuerySet

from exercises.models import Ladder, PainReview, Prescription, SetLog, Stage, StageChange
from patients.models import AccessEvent, ClearanceNote, Clinic, Membership, Patient

# Rows are read from the database and written to it in batches of this many.
CHUNK = 2000

User = get_user_model()
# Server-level authorisation: ids of groups and permissions differ between servers, and the app
# keeps its roles in memberships. Users are exported without them (docs/backups.md).
USER_FIELDS_LEFT_OUT = ("groups", "user_permissions")
# A user the clinic's rows point at (e.g. the admin who corrected a record, a therapist who has
# left) but who does not belong to the clinic: kept so the history still names them, stripped of
# every credential and privilege. "!" is Django's unusable-password prefix.
REFERENCED_ONLY = {"password": "!", "is_active": False, "is_staff": False, "is_superuser": False}


def history_model(model: type[models.Model]) -> type[models.Model]:
    """The django-simple-history model of `model` (HistoricalPatient for Patient, ...)."""
    # simple_history's HistoricalRecords gives each audited model its `history` (no types).
    return model.history.model  # type: ignore[attr-defined]  # see above


@dataclass(frozen=True)
class Scope:
    """The clinic being exported, and the subqueries every part is selected by."""

    clinic_id: int

    def of_patients(self, column: str = "patient_id") -> Q:
        """Rows whose `column` is one of the clinic's patients, including patients deleted since
        (their history stays, and is the clinic's)."""
        live = Patient.objects.filter(clinic_id=self.clinic_id).values("pk")
        deleted = (
            history_model(Patient)
            ._default_manager.filter(clinic_id=self.clinic_id)
            .exclude(id__in=Patient.objects.values("pk"))
            .values("id")
        )
        return Q(**{f"{column}__in": live}) | Q(**{f"{column}__in": deleted})


@dataclass(frozen=True)
class Part:
    """One model in the file and how to select the clinic's rows of it."""

    model: type[models.Model]
    select: Callable[[Scope], QuerySet[Any]]
    # Reference data shared by every clinic (the ladder): written for verification only. The
    # import checks that the target holds the same rows and never creates or changes them.
    reference: bool = False

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def _history_part(model: type[models.Model], rows: Callable[[Scope], Q]) -> Part:
    # Selected on the historical table itself, not through the live rows, so the history of a
    # deleted object comes along too.
    return Part(
        history_model(model), lambda s: history_model(model)._default_manager.filter(rows(s))
    )


def members(scope: Scope) -> Q:
    """Users who belong to the clinic: its care team and its patients' logins."""
    return Q(pk__in=Membership.objects.filter(clinic_id=scope.clinic_id).values("user_id")) | Q(
        pk__in=Patient.objects.filter(clinic_id=scope.clinic_id).values("user_id")
    )


def _users(scope: Scope) -> QuerySet[Any]:
    """The members, and every user a row of the clinic points at (who recorded, voided, changed).

    Subqueries, not lists of ids: a clinic with tens of thousands of patient logins stays one
    query. A historical row may name a user deleted since; only existing users can be exported.
    """
    wanted = members(scope)
    for part in PARTS:
        if part.model is User or part.reference:
            continue
        for f in part.model._meta.concrete_fields:
            if f.is_relation and f.related_model is User:
                wanted |= Q(pk__in=part.select(scope).order_by().values(f.attname))
    return User.objects.filter(wanted)


# The order of the file: reference data first (checked before anything is written), then parents
# before children, then the audit history (no database constraints, written last).
PARTS: list[Part] = [
    Part(Ladder, lambda s: Ladder.objects.all(), reference=True),
    Part(Stage, lambda s: Stage.objects.all(), reference=True),
    Part(Clinic, lambda s: Clinic.objects.filter(pk=s.clinic_id)),
    Part(User, _users),
    Part(Membership, lambda s: Membership.objects.filter(clinic_id=s.clinic_id)),
    Part(Patient, lambda s: Patient.objects.filter(clinic_id=s.clinic_id)),
    Part(ClearanceNote, lambda s: ClearanceNote.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(Prescription, lambda s: Prescription.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(StageChange, lambda s: StageChange.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(SetLog, lambda s: SetLog.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(PainReview, lambda s: PainReview.objects.filter(patient__clinic_id=s.clinic_id)),
    # Who read or exported patient data: the read half of the audit trail (no history of its own).
    Part(AccessEvent, lambda s: AccessEvent.objects.filter(clinic_id=s.clinic_id)),
    _history_part(Membership, lambda s: Q(clinic_id=s.clinic_id)),
    _history_part(Patient, lambda s: s.of_patients("id")),
    _history_part(ClearanceNote, lambda s: s.of_patients()),
    _history_part(Prescription, lambda s: s.of_patients()),
    _history_part(StageChange, lambda s: s.of_patients()),
    _history_part(SetLog, lambda s: s.of_patients()),
    _history_part(PainReview, lambda s: s.of_patients()),
]

# Models that point at clinic data or users but stay out of the file, each with the reason.
EXCLUDED: dict[str, str] = {
    "exercises.historicalladder": (
        "The ladder is reference data shared by every clinic; its edit history belongs to the "
        "server, not to one clinic. The whole-server pg_dump keeps it."
    ),
    "exercises.historicalstage": (
        "The stages are reference data shared by every clinic; their edit history belongs to the "
        "server, not to one clinic. The whole-server pg_dump keeps it."
    ),
    "authtoken.token": (
        "API tokens are credentials, not records: after a restore, patients sign in again in the "
        "app and get a new token."
    ),
    "admin.logentry": (
        "The Django admin's log covers the whole server and names objects by text; the audit "
        "history of clinic records is in the historical rows, which are exported."
    ),
}
