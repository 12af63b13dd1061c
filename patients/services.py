"""Writes for clinics' patients and clearance notes. Views, the admin and commands call these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from patients.access_events import record_access
from patients.documents import document_type_of
from patients.models import (
    PRECAUTION_FIELDS,
    AccessAction,
    ClearanceNote,
    Clinic,
    Decision,
    Patient,
    WeightBearing,
)
from patients.precautions import Precaution

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def save_with_history(
    obj: Model, by: User | None, *, reason: str | None = None, **save_kwargs: Any
) -> None:
    """Save, recording `by` (and why, when given) on the audit history row.

    simple_history reads `_history_user` before the request's user, so rows written outside a
    request (commands, the system's automatic advance) still say who made the change. The
    attributes are removed afterwards so that a later save of the same object cannot inherit a
    stale author or reason.
    """
    # These attributes are simple_history's hooks, set on the instance; no model declares them.
    obj._history_user = by  # type: ignore[attr-defined]  # simple_history's hook (above)
    if reason:
        obj._change_reason = reason  # type: ignore[attr-defined]  # simple_history's hook (above)
    try:
        obj.save(**save_kwargs)
    finally:
        del obj._history_user  # type: ignore[attr-defined]  # simple_history's hook (above)
        if reason:
            del obj._change_reason  # type: ignore[attr-defined]  # simple_history's hook (above)


@transaction.atomic
def patient_create(
    *,
    clinic: Clinic,
    record_number: str,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    affected_side: str,
    primary_therapist: User | None = None,
    requires_clearance: bool = False,
    clearance_reason: str = "",
    by: User | None = None,
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


def lock_patient(patient: Patient) -> None:
    """Lock the patient's row until the transaction ends, and read back under the lock what the
    clinical rules depend on (the clearance requirement, its reason, the discharge) onto `patient`.

    Every write that reads or changes those takes this lock first, so two at once are serialised
    and none decides on a stale copy (a form loaded before a note turned the requirement on, say).
    NO KEY: it must not conflict with the key-share lock that inserting a set (a foreign key to
    the patient) takes, or a set logged at the same moment could deadlock with it.
    """
    row = (
        Patient.objects.select_for_update(no_key=True)
        .filter(pk=patient.pk)
        .values("requires_clearance", "clearance_reason", "discharged_at")
        .first()
    )
    for field, value in (row or {}).items():
        setattr(patient, field, value)


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    record_number: str,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    affected_side: str,
    primary_therapist: User | None,
    requires_clearance: bool,
    clearance_reason: str,
    by: User | None,
) -> Patient:
    """Change a patient's details. The clinic and the login are not changed here.

    Turning `requires_clearance` on takes effect at once: the clearance gate and the derived
    "paused" state read it on every request. Turning it off is refused: the requirement is a
    clinical decision, and only a clearance note that records it ("no further clearance needed",
    signed by a named clinician) ends it (`clearance_note_record`). While it holds, its reason is
    part of that decision and is not changed here either. The audit history keeps the before and
    after.
    """
    lock_patient(patient)
    if patient.requires_clearance and not requires_clearance:
        raise ValidationError(
            {
                "requires_clearance": (
                    f"{patient.full_name} needs medical clearance ({patient.clearance_reason}); "
                    "only a clearance note can end that. Record the medical team's note with the "
                    "decision “no further clearance needed”."
                )
            }
        )
    if patient.requires_clearance:
        clearance_reason = patient.clearance_reason
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
    *, patient: Patient, username: str, password: str | None, by: User | None = None
) -> User:
    """Give a patient a login of their own (for the phone app and the 'my exercises' page).

    With `password=None` the account gets an unusable password, to be set through an invitation.
    """
    if patient.user_id is not None:
        raise ValidationError({"username": "This patient already has a login."})
    user_model = get_user_model()
    # The name shows in the page header and the admin; the patient record stays the source.
    user = user_model(
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
def patient_login_set_active(*, patient: Patient, active: bool, by: User) -> User:
    """Disable a patient's login, or enable it again. The account and its history are kept.

    Disabled, the login cannot sign in, its web sessions end at their next request (Django refuses
    an inactive user) and its API tokens are revoked (patients/signals.py), so a lost phone or a
    shared password is cut off at once.

    The user table has no history of its own, so who cut the patient off (or let them back in) and
    when is an access event on the patient: it shows on their history page and in the clinic's
    access log. Asking for the state the login is already in changes nothing and records nothing.
    """
    user = patient.user
    if user is None:
        raise ValidationError({"username": f"{patient.full_name} has no login to change."})
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
    review_on: dt.date | None,
    recorded_by: User,
    weight_bearing: str = WeightBearing.NOT_STATED,
    max_stage: int | None = None,
    restrictions: str = "",
    procedure_on: dt.date | None = None,
    precautions: Iterable[str] = (),
    operated_side: str = "",
    document: UploadedFile[bytes] | None = None,
    now: dt.datetime | None = None,
) -> ClearanceNote:
    """Record a medical team's clearance decision. Notes are never edited: a new one supersedes.

    - A note that does not end the requirement, recorded for a patient who did not require
      clearance, turns the requirement on (its reason from the note): its review date and its
      limits mean something only under the gate.
    - "No further clearance needed" ends the requirement: the patient's history says who recorded
      it and on whose sign-off. It is refused for a patient who does not require clearance.
    - `precautions` are `Precaution` values; anything else is refused, naming it.
    - `document`, a scan of the signed note, must be a PDF, JPEG or PNG of at most
      `DOCUMENT_MAX_BYTES`, judged by its content (`patients.documents`).

    `now` is when it is recorded (the demo replays past weeks); the signing date may not be after
    that day.
    """
    now = now or timezone.now()
    today = patient.clinic.local_date(now)
    lock_patient(patient)
    chosen = _known_precautions(precautions)
    note = ClearanceNote(
        patient=patient,
        reason=reason.strip(),
        procedure_on=procedure_on,
        decision=decision,
        weight_bearing=weight_bearing,
        max_stage=max_stage,
        restrictions=restrictions.strip(),
        operated_side=operated_side,
        signed_by_name=signed_by_name.strip(),
        signed_by_credentials=signed_by_credentials.strip(),
        signed_on=signed_on,
        review_on=review_on,
        recorded_by=recorded_by,
        recorded_at=now,
        **{p: p in chosen for p in PRECAUTION_FIELDS},
    )
    ends = decision == Decision.NOT_REQUIRED
    _check_note(note, patient, document, ends=ends, today=today, now=now)
    _store_note(note, document, recorded_by)
    _update_requirement(patient, note, recorded_by, ends=ends)
    return note


def _known_precautions(precautions: Iterable[str]) -> list[str]:
    """The chosen precautions, refusing any that is not a `Precaution` value, naming it."""
    chosen = list(precautions)
    unknown = sorted(set(chosen) - set(Precaution.values))
    if unknown:
        raise ValidationError(
            {
                "precautions": (
                    f"{', '.join(unknown)} is not one of the precautions: "
                    f"{'; '.join(str(p.label) for p in Precaution)}. Write any other "
                    "restriction in “other restrictions”."
                )
            }
        )
    return chosen


def _check_note(
    note: ClearanceNote,
    patient: Patient,
    document: UploadedFile[bytes] | None,
    *,
    ends: bool,
    today: dt.date,
    now: dt.datetime,
) -> None:
    """Refuse the note with every problem at once, each under its field as the form shows it.

    The scan's type is read from its content here, so a refused file is reported with the rest.
    """
    errors = _field_errors(note)
    _check_dates(note, today, errors)
    if ends:
        _check_ending(note, patient, now, errors)
    if document is not None:
        _read_document_type(note, document, errors)
    if errors:
        raise ValidationError(errors)


def _field_errors(note: ClearanceNote) -> dict[str, list[str]]:
    """The model's own validation, as messages by field (the scan is judged apart)."""
    try:
        note.full_clean(exclude=["document"])
    except ValidationError as exc:
        return dict(exc.message_dict)
    return {}


def _check_dates(note: ClearanceNote, today: dt.date, errors: dict[str, list[str]]) -> None:
    """Neither the signing nor the procedure may be after the clinic's day of recording."""
    if note.signed_on and note.signed_on > today:
        errors.setdefault("signed_on", []).append("A clearance cannot be signed in the future.")
    if note.procedure_on and note.procedure_on > today:
        errors.setdefault("procedure_on", []).append(
            "The procedure or injury cannot be in the future."
        )


def _check_ending(
    note: ClearanceNote, patient: Patient, now: dt.datetime, errors: dict[str, list[str]]
) -> None:
    """An ending needs a requirement to end, and a sign-off recent enough (`ending_problem`)."""
    if not patient.requires_clearance:
        errors.setdefault("decision", []).append(
            f"{patient.full_name} does not require clearance: there is no requirement to end."
        )
    elif note.signed_on and (problem := _ending_too_early(patient, note.signed_on, now)):
        errors.setdefault("signed_on", []).append(problem)


def _read_document_type(
    note: ClearanceNote, document: UploadedFile[bytes], errors: dict[str, list[str]]
) -> None:
    """Set the scan's type from its content (`patients.documents`), or say why it is refused."""
    try:
        note.document_type = document_type_of(document)
    except ValidationError as exc:
        errors.setdefault("document", []).extend(exc.messages)


def _store_note(
    note: ClearanceNote, document: UploadedFile[bytes] | None, recorded_by: User
) -> None:
    """Save the note with its history row, and its scan (written first, under a random name)."""
    if document is not None:
        note.document_name = _shown_name(document.name or "")
        note.document.save(document.name or "scan", document, save=False)
    try:
        save_with_history(note, recorded_by)
    except Exception:
        # The file was written before the row: a refused row must not leave it behind.
        if note.document.name:
            note.document.storage.delete(note.document.name)
        raise


def _update_requirement(
    patient: Patient, note: ClearanceNote, recorded_by: User, *, ends: bool
) -> None:
    """An ending note ends the requirement; any other note turns it on if it was off."""
    if ends:
        patient.requires_clearance = False
        save_with_history(
            patient,
            recorded_by,
            update_fields=["requires_clearance"],
            reason=_ended_reason(note),
        )
    elif not patient.requires_clearance:
        patient.requires_clearance = True
        patient.clearance_reason = patient.clearance_reason or note.reason
        save_with_history(
            patient,
            recorded_by,
            update_fields=["requires_clearance", "clearance_reason"],
            reason=f"Required by the clearance note signed {note.signed_on:%d %b %Y}"[:100],
        )


def _ending_too_early(patient: Patient, signed_on: dt.date, now: dt.datetime) -> str | None:
    later = ClearanceNote.objects.filter(patient=patient, signed_on__gt=signed_on)
    return ending_problem(signed_on, later, required_again_since(patient, now))


def ending_problem(
    signed_on: dt.date, earlier_notes: Iterable[ClearanceNote], again_since: dt.date | None
) -> str | None:
    """Why a sign-off of `signed_on` cannot end a clearance requirement, or None.

    An ending speaks for the medical team as it stands:
    - it must be signed on or after every note already recorded (`earlier_notes`): a
      later-signed note's limits are the team's latest word;
    - when the requirement was set again after an earlier one ended (`again_since`, that day),
      it must be signed on or after that day: a sign-off from before the new injury or operation
      does not answer it. A first requirement may be ended by a sign-off from before the patient
      was registered (the surgeon's letter often comes first).
    `import_clinic` asks the same of each ending.
    """
    later = max(
        (n for n in earlier_notes if n.signed_on > signed_on),
        key=lambda n: (n.signed_on, n.recorded_at),
        default=None,
    )
    if later is not None:
        return (
            f"A note signed later ({later.signed_on:%d %b %Y}, {later.signed_by_name}: "
            f"{later.get_decision_display().lower()}) is the medical team's latest word: a note "
            f"that ends the requirement must be signed on or after {later.signed_on:%d %b %Y}."
        )
    if again_since is not None and signed_on < again_since:
        return (
            f"Clearance was required again from {again_since:%d %b %Y}, after an earlier "
            f"requirement ended; this sign-off ({signed_on:%d %b %Y}) is from before that. A note "
            f"that ends the new requirement must be signed on or after {again_since:%d %b %Y}."
        )
    return None


def required_again_since(patient: Patient, now: dt.datetime | None = None) -> dt.date | None:
    """The clinic's day the patient's clearance requirement was set again after an earlier one
    ended, as the audit history knew it at `now` (`required_again_at`)."""
    rows = (
        patient.history.filter(history_date__lte=now or timezone.now())
        .order_by("history_date", "history_id")
        .values_list("history_date", "requires_clearance")
    )
    again = required_again_at(rows)
    return patient.clinic.local_date(again) if again is not None else None


def required_again_at(history: Iterable[tuple[dt.datetime, bool]]) -> dt.datetime | None:
    """When the requirement that holds at the end of `history` ((when, requires clearance) rows,
    oldest first) was set again after an earlier one ended; None if it does not hold at the end,
    or holds since it was first set."""
    required, ended_before, again = False, False, None
    for at, requires in history:
        if requires and not required:
            again = at if ended_before else None
        elif required and not requires:
            ended_before = True
        required = requires
    return again if required else None


def _ended_reason(note: ClearanceNote) -> str:
    """The history row's reason for ending the requirement: whose sign-off (100 characters)."""
    text = (
        f"Ended on the sign-off of {note.signed_by_name} ({note.signed_by_credentials}), "
        f"signed {note.signed_on:%d %b %Y}"
    )
    return text if len(text) <= 100 else text[:99] + "…"


def _shown_name(name: str) -> str:
    # Only the last path part, as the browser sent it; for display, never for storage.
    return name.replace("\\", "/").rsplit("/", 1)[-1][:200]
