"""Writes for clinics' patients and clearance notes. Views, the admin and commands call these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from patients.audit import record_access
from patients.models import AccessAction, ClearanceNote, Clinic, Patient, WeightBearing


def save_with_history(obj: Model, by: AbstractUser | None, **save_kwargs: Any) -> None:
    """Save, recording `by` on the audit history row.

    simple_history reads `_history_user` before the request's user, so rows written outside a
    request (commands, the system's automatic advance) still say who made the change. The attribute
    is removed afterwards so that a later save of the same object cannot inherit a stale author.
    """
    obj._history_user = by  # type: ignore[attr-defined]
    try:
        obj.save(**save_kwargs)
    finally:
        del obj._history_user  # type: ignore[attr-defined]


@transaction.atomic
def patient_create(
    *,
    clinic: Clinic,
    record_number: str,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    affected_side: str,
    primary_therapist: AbstractUser | None = None,
    requires_clearance: bool = False,
    clearance_reason: str = "",
    by: AbstractUser | None = None,
) -> Patient:
    patient = Patient(
        clinic=clinic,
        record_number=record_number.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        affected_side=affected_side,
        primary_therapist=primary_therapist,
        requires_clearance=requires_clearance,
        clearance_reason=clearance_reason.strip(),
    )
    _validate_patient(patient)
    save_with_history(patient, by)
    return patient


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    record_number: str,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    affected_side: str,
    primary_therapist: AbstractUser | None,
    requires_clearance: bool,
    clearance_reason: str,
    by: AbstractUser | None,
) -> Patient:
    """Change a patient's details. The clinic and the login are not changed here.

    Turning `requires_clearance` on or off takes effect at once: the clearance gate and the derived
    "paused" state read it on every request. The audit history keeps the before and after.
    """
    patient.record_number = record_number.strip()
    patient.first_name = first_name.strip()
    patient.last_name = last_name.strip()
    patient.date_of_birth = date_of_birth
    patient.affected_side = affected_side
    patient.primary_therapist = primary_therapist
    patient.requires_clearance = requires_clearance
    patient.clearance_reason = clearance_reason.strip()
    try:
        _validate_patient(patient)
    except ValidationError:
        # Refused: the caller's object goes back to what is stored, so a page that shows the
        # patient next to the form's errors does not show the refused values as if saved.
        patient.refresh_from_db()
        raise
    save_with_history(patient, by)
    return patient


def _validate_patient(patient: Patient) -> None:
    """`full_clean`, with the two table-level rules keyed to the field a form shows them next to.

    The database constraints stay the backstop; Django reports a multi-field unique constraint and
    a check constraint as errors of the whole object, which a form cannot place next to an input.
    Includes: the primary therapist is a therapist of this clinic (`Patient.clean`).
    """
    try:
        patient.full_clean()
    except ValidationError as exc:
        raise _keyed_to_fields(exc, patient) from exc


def _keyed_to_fields(exc: ValidationError, patient: Patient) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    errors = {field: list(errs) for field, errs in exc.error_dict.items()}
    general = []
    for error in errors.pop(NON_FIELD_ERRORS, []):
        if error.code == "unique_together":
            errors.setdefault("record_number", []).append(
                ValidationError(
                    "Record number %(number)s is already used by another patient of this clinic.",
                    code="unique",
                    params={"number": patient.record_number},
                )
            )
        elif error.message == _CLEARANCE_REASON_MESSAGE:
            errors.setdefault("clearance_reason", []).append(error)
        else:
            general.append(error)
    if general:
        errors[NON_FIELD_ERRORS] = general
    return ValidationError(errors)


_CLEARANCE_REASON_MESSAGE = next(
    c.violation_error_message
    for c in Patient._meta.constraints
    if c.name == "patient_clearance_requires_reason"
)


@transaction.atomic
def patient_login_create(
    *, patient: Patient, username: str, password: str | None, by: AbstractUser | None = None
) -> AbstractUser:
    """Give a patient a login of their own (for the phone app and the 'my exercises' page).

    With `password=None` the account gets an unusable password, to be set through an invitation.
    """
    if patient.user_id is not None:
        raise ValidationError({"username": "This patient already has a login."})
    User = get_user_model()
    # The name shows in the page header and the admin; the patient record stays the source.
    user = User(
        username=username.strip(), first_name=patient.first_name, last_name=patient.last_name
    )
    user.full_clean(exclude=["password"])
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    user.save()
    patient.user = user
    save_with_history(patient, by, update_fields=["user"])
    return user


@transaction.atomic
def patient_login_set_active(*, patient: Patient, active: bool, by: AbstractUser) -> AbstractUser:
    """Disable a patient's login, or enable it again. The account and its history are kept.

    Disabled, the login cannot sign in, its web sessions end at their next request (Django refuses
    an inactive user) and its API tokens are revoked (patients/signals.py), so a lost phone or a
    shared password is cut off at once.

    The user table has no history of its own, so who cut the patient off (or let them back in) and
    when is an access event on the patient: it shows on their history page and in the clinic's
    access log. Asking for the state the login is already in changes nothing and records nothing.
    """
    if patient.user_id is None:
        raise ValidationError({"username": f"{patient.full_name} has no login to change."})
    user = patient.user
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        record_access(
            user=by,
            action=AccessAction.LOGIN_ENABLED if active else AccessAction.LOGIN_DISABLED,
            patient=patient,
        )
    return user


@transaction.atomic
def clearance_note_record(
    *,
    patient: Patient,
    reason: str,
    decision: str,
    signed_by_name: str,
    signed_by_credentials: str,
    signed_on: dt.date,
    review_on: dt.date,
    recorded_by: AbstractUser,
    weight_bearing: str = WeightBearing.NOT_STATED,
    max_stage: int | None = None,
    restrictions: str = "",
    today: dt.date | None = None,
) -> ClearanceNote:
    """Record a medical team's clearance decision. Notes are never edited: a new one supersedes."""
    today = today or patient.clinic.local_date(timezone.now())
    note = ClearanceNote(
        patient=patient,
        reason=reason.strip(),
        decision=decision,
        weight_bearing=weight_bearing,
        max_stage=max_stage,
        restrictions=restrictions.strip(),
        signed_by_name=signed_by_name.strip(),
        signed_by_credentials=signed_by_credentials.strip(),
        signed_on=signed_on,
        review_on=review_on,
        recorded_by=recorded_by,
    )
    note.full_clean()
    if signed_on > today:
        raise ValidationError({"signed_on": "A clearance cannot be signed in the future."})
    save_with_history(note, recorded_by)
    return note
