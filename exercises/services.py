"""Every write to prescriptions, stage changes and set logs goes through these functions.

Views, API serializers, the admin and management commands call them; none saves these models
itself. Each function takes keyword arguments only, validates everything before writing, and writes
in one transaction. Times default to now; passing them in lets the demo data replay eight weeks of
history through exactly the same rules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import FilteredRelation, Q, Subquery
from django.utils import timezone

from exercises.models import (
    DOSE_FIELDS,
    ChangeReason,
    PainOutcome,
    PainReview,
    Prescription,
    PrescriptionQuerySet,
    SetLog,
    Source,
    Stage,
    StageChange,
)
from exercises.progression import is_ready, pain_alert_for
from patients.clearance import (
    check_clearance,
    clearance_problem,
    clearance_problem_for_patient,
)
from patients.errors import (
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    PrescriptionEnded,
    PrescriptionPaused,
)
from patients.models import ClearanceNote, Patient, Side
from patients.services import lock_patient, save_with_history
from patients.thresholds import FUTURE_TOLERANCE, MAX_LOG_AGE, MAX_LOG_AGE_DAYS

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _patient_busy(patient: Patient) -> bool:
    """True if another transaction holds the patient's lock (a therapist changing a stage now).

    For automatic advance, which runs inside a set's write after the prescription's row lock:
    waiting for the patient's lock there would take the two locks in the opposite order to a
    stage change, and the two could deadlock. The therapist's change decides instead.
    """
    return (
        Patient.objects.select_for_update(no_key=True, skip_locked=True)
        .filter(pk=patient.pk)
        .values_list("pk", flat=True)
        .first()
        is None
    )


def _lock_active_patient(patient: Patient) -> None:
    """Lock the patient's row (`patients.services.lock_patient`), refusing a discharged patient.

    The lock serialises stage changes (and pain reviews) of one patient, so two clicks cannot both
    advance the same side, and a discharge or a clearance requirement that committed meanwhile is
    seen even through a stale copy.
    """
    lock_patient(patient)
    if patient.discharged_at is not None:
        raise InvalidTransition(
            f"{patient.full_name} has been discharged; no prescription can be started or changed."
        )


@transaction.atomic
def prescription_start(
    *,
    patient: Patient,
    side: str,
    stage: Stage,
    by: User | None,
    at: dt.datetime | None = None,
    target_sets: int = 3,
    target_reps: int = 10,
    hold_at_top_seconds: int = 1,
    sessions_per_week: int = 5,
    progress_at_reps: int | None = None,
    pain_ceiling: int | None = None,
    pain_alert_above: int | None = None,
    auto_advance: bool = False,
    notes: str = "",
) -> Prescription:
    """Start a side on a stage. Passes the clearance gate; records a StageChange (start).

    The thresholds left empty are the clinic's; the pain ceiling in force may not be above the
    pain alert threshold in force (a set could then make the side ready and ring an alert)."""
    at = at or timezone.now()
    if side not in Side.values:
        raise ValidationError({"side": f"Side must be one of: {', '.join(Side.values)}."})
    _lock_active_patient(patient)
    current = Prescription.objects.active().filter(patient=patient, side=side).first()
    if current is not None:
        raise InvalidTransition(
            f"The {side} side already has an active prescription (stage {current.stage.number}); "
            f"advance, regress or stop it instead of starting another."
        )
    check_clearance(patient, stage, side, patient.clinic.local_date(at))
    prescription = Prescription(
        patient=patient,
        side=side,
        stage=stage,
        target_sets=target_sets,
        target_reps=target_reps,
        hold_at_top_seconds=hold_at_top_seconds,
        sessions_per_week=sessions_per_week,
        progress_at_reps=progress_at_reps,
        pain_ceiling=pain_ceiling,
        pain_alert_above=pain_alert_above,
        auto_advance=auto_advance,
        started_at=at,
        prescribed_by=by,
        notes=notes.strip(),
    )
    prescription.full_clean()
    _check_thresholds(prescription)
    save_with_history(prescription, by)
    _record_change(prescription, ChangeReason.START, None, stage, by, at, notes)
    return prescription


def _check_thresholds(prescription: Prescription) -> None:
    # What the prescription asks for, not what is in force: in force, the ceiling is capped at the
    # alert threshold, and a new prescription asking for more is refused rather than capped.
    ceiling, alert = prescription.patient.clinic.thresholds.pain_asked(
        prescription.pain_ceiling, prescription.pain_alert_above
    )
    if ceiling > alert:
        field = "pain_ceiling" if prescription.pain_ceiling is not None else "pain_alert_above"
        raise ValidationError(
            {
                field: (
                    f"The pain ceiling for readiness ({ceiling}) cannot be above the pain alert "
                    f"threshold ({alert}): a set could then make the side ready and raise a pain "
                    f"alert at once."
                )
            }
        )


def _record_change(
    prescription: Prescription,
    reason: ChangeReason,
    from_stage: Stage | None,
    to_stage: Stage | None,
    by: User | None,
    at: dt.datetime,
    note: str,
) -> StageChange:
    change = StageChange(
        patient=prescription.patient,
        side=prescription.side,
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        prescription=prescription,
        by=by,
        at=at,
        note=note.strip(),
    )
    save_with_history(change, by)
    return change


def _lock_active(prescription: Prescription) -> Prescription:
    """Re-read the prescription under a row lock and refuse if it has ended meanwhile."""
    _lock_active_patient(prescription.patient)
    fresh = (
        Prescription.objects.select_related("stage__ladder", "patient__clinic")
        .filter(pk=prescription.pk)
        .first()
    )
    if fresh is None or not fresh.is_active:
        raise PrescriptionEnded(
            "This prescription has already ended; refresh to see the patient's current stage."
        )
    return fresh


def _end(prescription: Prescription, at: dt.datetime, by: User | None) -> None:
    if at < prescription.started_at:
        raise ValidationError({"at": "A prescription cannot end before it started."})
    prescription.ended_at = at
    save_with_history(prescription, by, update_fields=["ended_at"])


def _change_stage(
    prescription: Prescription,
    to_stage: Stage,
    reason: ChangeReason,
    by: User | None,
    at: dt.datetime,
    note: str,
) -> Prescription:
    """End one prescription and start the next with the same dose: the ladder's single step."""
    _end(prescription, at, by)
    successor = Prescription(
        patient=prescription.patient,
        side=prescription.side,
        stage=to_stage,
        started_at=at,
        prescribed_by=by,
        # The therapist's instructions carry over; why the stage changed goes on the StageChange.
        notes=prescription.notes,
        **{f: getattr(prescription, f) for f in DOSE_FIELDS},
    )
    successor.full_clean()
    save_with_history(successor, by)
    _record_change(successor, reason, prescription.stage, to_stage, by, at, note)
    return successor


def next_stage(stage: Stage) -> Stage | None:
    return stage.ladder.stages.filter(number__gt=stage.number).order_by("number").first()


def previous_stage(stage: Stage) -> Stage | None:
    return stage.ladder.stages.filter(number__lt=stage.number).order_by("-number").first()


@transaction.atomic
def prescription_advance(
    *,
    prescription: Prescription,
    by: User | None,
    at: dt.datetime | None = None,
    note: str = "",
) -> Prescription:
    """Move a side one stage up the ladder. Passes the clearance gate for the new stage.

    `by=None` means the system advanced it (a prescription that opted in to automatic advance).
    """
    at = at or timezone.now()
    current = _lock_active(prescription)
    to_stage = next_stage(current.stage)
    if to_stage is None:
        raise InvalidTransition(
            f"Stage {current.stage.number} is the top of the ladder: the ladder is complete. "
            f"Keep the patient at this stage or stop the prescription."
        )
    check_clearance(current.patient, to_stage, current.side, current.patient.clinic.local_date(at))
    return _change_stage(current, to_stage, ChangeReason.PROGRESSED, by, at, note)


@transaction.atomic
def prescription_regress(
    *,
    prescription: Prescription,
    by: User,
    at: dt.datetime | None = None,
    note: str = "",
) -> Prescription:
    """Move a side one stage down, e.g. after a pain alert.

    Not gated: a lower stage is less load. If clearance is not in force the new prescription is
    paused like any other, so the patient still cannot log until it is.
    """
    at = at or timezone.now()
    current = _lock_active(prescription)
    to_stage = previous_stage(current.stage)
    if to_stage is None:
        raise InvalidTransition(
            f"Stage {current.stage.number} is the first stage; there is nothing to regress to. "
            f"Stop the prescription instead."
        )
    return _change_stage(current, to_stage, ChangeReason.REGRESSED, by, at, note)


@transaction.atomic
def prescription_stop(
    *,
    prescription: Prescription,
    by: User,
    at: dt.datetime | None = None,
    note: str = "",
) -> Prescription:
    """End a side's prescription without a successor."""
    at = at or timezone.now()
    current = _lock_active(prescription)
    _end(current, at, by)
    _record_change(current, ChangeReason.STOPPED, current.stage, None, by, at, note)
    return current


@transaction.atomic
def patient_discharge(*, patient: Patient, by: User, at: dt.datetime | None = None) -> None:
    """Discharge a patient: stop every active prescription, then mark the patient discharged."""
    at = at or timezone.now()
    _lock_active_patient(patient)
    for prescription in Prescription.objects.active().filter(patient=patient):
        prescription_stop(prescription=prescription, by=by, at=at, note="Discharged.")
    patient.discharged_at = at
    save_with_history(patient, by, update_fields=["discharged_at"])


def pause_reason(
    prescription: Prescription, on: dt.date, notes: Iterable[ClearanceNote] | None = None
) -> str | None:
    """Why an active prescription is paused on a day (clearance), or None. Derived, never stored.

    Pass the patient's clearance notes when they are already loaded (lists), to save a query.
    """
    return clearance_problem(prescription.patient, prescription.stage, prescription.side, on, notes)


@dataclass(frozen=True, kw_only=True)
class SetLogRequest:
    """One set as a door hands it to `set_log`: whose set, who logs it and through which door,
    and what was done.

    The API's serializer, the patient's page, the patient page's clinic form and the admin build
    it with one call (`from_input`); the demo data and the tests build it directly.
    """

    patient: Patient
    by: User
    source: str
    # An object or just its id (as an API client sends it): `set_log` reads it afresh either way.
    prescription: Prescription | int
    client_id: uuid.UUID
    reps: int
    pain: int
    # None: performed now, as the patient's own web page logs a set (it has no clock field). A
    # replay under the same client_id then keeps the stored set's time (see `set_log`).
    performed_at: dt.datetime | None
    effort: int | None = None
    note: str = ""

    @classmethod
    def from_input(
        cls, data: Mapping[str, Any], *, patient: Patient, by: User, source: str
    ) -> SetLogRequest:
        """From a form's cleaned data or a serializer's validated data, which name the set's
        fields as the model does; a door without a time or an effort field leaves them out."""
        return cls(
            patient=patient,
            by=by,
            source=source,
            prescription=data["prescription"],
            client_id=data["client_id"],
            reps=data["reps"],
            pain=data["pain"],
            performed_at=data.get("performed_at"),
            effort=data.get("effort"),
            note=data.get("note") or "",
        )


@dataclass(frozen=True)
class LoggedSet:
    set_log: SetLog
    created: bool


def _same_payload(existing: SetLog, candidate: SetLog, *, timed: bool) -> bool:
    return (
        existing.prescription_id == candidate.prescription_id
        and existing.reps == candidate.reps
        and existing.pain == candidate.pain
        and existing.effort == candidate.effort
        and (existing.performed_at == candidate.performed_at or not timed)
        and existing.note == candidate.note
    )


def _replay(existing: SetLog, candidate: SetLog, *, timed: bool) -> LoggedSet:
    if not _same_payload(existing, candidate, timed=timed):
        raise IdempotencyConflict(
            f"A different set was already stored under client_id {existing.client_id}. "
            f"Use a new client_id for a new set."
        )
    return LoggedSet(existing, created=False)


def set_log(request: SetLogRequest, *, now: dt.datetime | None = None) -> LoggedSet:
    """Store one set, idempotently on (patient, client_id).

    The same client_id with the same payload returns the stored set (`created=False`) and writes
    nothing; with a different payload it raises IdempotencyConflict. Concurrent identical requests
    store one row: the unique constraint decides, and the losers read the winner's row.

    A request without a time (`performed_at=None`, the patient's web page, which has no clock of
    its own) is a set performed now, that is when it was first submitted: a double tap replays it
    whatever the time of the second tap, and any other difference is still a conflict.

    `request.prescription` may be an object or just its id: either way the row is read afresh,
    scoped to the patient and locked, so a caller's stale copy cannot slip a set past a stage
    change. A set is accepted when the prescription was active and not paused (clearance) at the
    time it was performed, so a set done offline before the therapist changed the stage is not
    lost.

    Cost: one statement reads and locks the prescription and, with it, the set already stored
    under this client_id and the clearance note in effect that day (for a patient who requires
    clearance); then the insert and its history row. With BEGIN and COMMIT: 5 queries for a new
    set, 3 for a replay, whether or not the patient requires clearance.
    """
    now = now or timezone.now()
    patient, client_id = request.patient, request.client_id
    timed = request.performed_at is not None
    performed_at = request.performed_at if request.performed_at is not None else now
    # Before the replay lookup: a time without its offset is bad input, not a different payload.
    _require_aware(performed_at)
    candidate = _candidate(request, performed_at, now)
    _check_fields(candidate, request.source)
    on = _clearance_day(patient, performed_at, now)
    try:
        with transaction.atomic():
            current = _lock_for_logging(patient, candidate.prescription_id, client_id, on)
            stored = _stored_set(current, patient, client_id)
            if stored is not None:
                # A replay, or a conflict: answered whatever became of the prescription since.
                return _replay(stored, candidate, timed=timed)
            current = _check_loggable(current, patient, performed_at, now, on)
            _insert(candidate, current, request.by)
            if current.auto_advance and current.is_active:
                # Not before the set that made the patient ready (a phone clock may run ahead).
                _auto_advance(current, max(now, performed_at))
    except IntegrityError:
        # A concurrent identical request stored it first (the unique constraint decided).
        existing = _stored(patient, client_id)
        if existing is None:
            raise
        return _replay(existing, candidate, timed=timed)
    return LoggedSet(candidate, created=True)


def _candidate(request: SetLogRequest, performed_at: dt.datetime, now: dt.datetime) -> SetLog:
    """The set as it would be stored, before the prescription's stage and side are copied."""
    prescription = request.prescription
    return SetLog(
        patient=request.patient,
        prescription_id=prescription if isinstance(prescription, int) else prescription.pk,
        reps=request.reps,
        pain=request.pain,
        effort=request.effort,
        performed_at=performed_at,
        logged_at=now,
        source=request.source,
        client_id=request.client_id,
        note=(request.note or "").strip(),
        logged_by=request.by,
    )


def _check_fields(candidate: SetLog, source: str) -> None:
    """The field validators and the door, before anything is read from the database."""
    # Field validators give per-field messages; the check constraints stay the database's backstop
    # (validating them here would cost a query each on the hottest write path).
    candidate.full_clean(
        exclude=["patient", "prescription", "stage", "side", "logged_by"],
        validate_unique=False,
        validate_constraints=False,
    )
    if source not in Source.values:
        raise ValidationError({"source": f"Source must be one of: {', '.join(Source.values)}."})


def _clearance_day(patient: Patient, performed_at: dt.datetime, now: dt.datetime) -> dt.date:
    """The clinic's day of the set, for the clearance note in effect that day."""
    # A time outside the sync window is refused later (unless it replays a stored set), so any
    # day will do for it: clamped, year 1 or 9999 cannot overflow the calendar in the clinic's zone.
    return patient.clinic.local_date(
        min(max(performed_at, now - MAX_LOG_AGE), now + FUTURE_TOLERANCE)
    )


def _stored_set(
    current: Prescription | None, patient: Patient, client_id: uuid.UUID
) -> SetLog | None:
    """The set already stored under client_id: brought by the locking read, or read on its own
    when no prescription of the patient's came back (the set may still replay)."""
    return getattr(current, "stored_set", None) if current else _stored(patient, client_id)


def _check_loggable(
    current: Prescription | None,
    patient: Patient,
    performed_at: dt.datetime,
    now: dt.datetime,
    on: dt.date,
) -> Prescription:
    """A new set's rules, in order: the patient's prescription, the patient still in the
    programme, the time, the prescription active then, and not paused by the clearance gate."""
    if current is None:
        # Same answer for another patient's prescription as for a missing one: never reveal
        # that another patient's data exists.
        raise NotFound("No such prescription for this patient.")
    if not patient.is_active:
        raise PrescriptionEnded(
            f"{patient.full_name} has been discharged: the programme has ended and no "
            f"more sets can be logged."
        )
    _check_performed_at(current, performed_at, now)
    if current.ended_at is not None and performed_at >= current.ended_at:
        raise PrescriptionEnded(
            f"This prescription (stage {current.stage.number}, {current.side} side) "
            f"ended on {current.ended_at:%d %b %Y}; log against the current plan."
        )
    _check_not_paused(current, patient, on)
    return current


def _check_not_paused(current: Prescription, patient: Patient, on: dt.date) -> None:
    """Refuse a set on a prescription the clearance gate pauses on the set's day."""
    # The note in effect came with the locking read (`_lock_for_logging`): no query here.
    note = getattr(current, "note_in_effect", None)
    problem = clearance_problem_for_patient(
        patient, current.stage, current.side, on, [note] if note else []
    )
    if problem is not None:
        raise PrescriptionPaused(
            "Your exercises are paused until your medical clearance is up to date: please "
            "contact your therapist. " + problem
        )


def _insert(candidate: SetLog, current: Prescription, by: User) -> None:
    """Insert the set and its history row, with the prescription's stage and side."""
    # Copied so the history reads right even after the prescription changes.
    candidate.prescription = current
    candidate.stage = current.stage
    candidate.side = current.side
    save_with_history(candidate, by, force_insert=True)


def _stored(patient: Patient, client_id: uuid.UUID) -> SetLog | None:
    return (
        SetLog.objects.select_related("stage").filter(patient=patient, client_id=client_id).first()
    )


def _lock_for_logging(
    patient: Patient, prescription_id: int, client_id: uuid.UUID, on: dt.date
) -> Prescription | None:
    """The patient's prescription, read afresh under a row lock, or None.

    The lock makes a stage change that starts now wait for this insert (it updates the same row),
    and one that committed first is seen here. The same statement brings what the write needs
    besides: `stored_set`, the set already stored under this client_id (if any), and for a patient
    who requires clearance `note_in_effect`, the note signed last on or before `on` (if any; it
    supersedes all earlier ones, so it is all the clearance gate needs). A missing one is simply
    not set.
    """
    # The relations are read with getattr (a missing one is not set): the rows are Prescriptions.
    # django-stubs does not follow select_related through a FilteredRelation's alias.
    query: PrescriptionQuerySet[Prescription] = (
        Prescription.objects.select_for_update(no_key=True, of=("self",))
        .annotate(
            stored_set=FilteredRelation(
                "patient__set_logs", condition=Q(patient__set_logs__client_id=client_id)
            )
        )
        .select_related("stage", "stored_set__stage")  # type: ignore[misc]  # an alias (above)
        .filter(pk=prescription_id, patient=patient)
    )
    if patient.requires_clearance:
        in_effect = ClearanceNote.objects.filter(patient=patient, signed_on__lte=on).newest_first()
        query = query.annotate(
            note_in_effect=FilteredRelation(
                "patient__clearance_notes",
                condition=Q(patient__clearance_notes__pk=Subquery(in_effect.values("pk")[:1])),
            )
        ).select_related("note_in_effect")  # type: ignore[misc]  # an alias (above)
    # At most one row (the primary key): no ORDER BY. The model's default ordering would sort by
    # patient, which follows Patient's ordering through a join to the patients table: a join and
    # its compiling for nothing, on every write.
    current = query.order_by().first()
    if current is not None:
        current.patient = patient
    return current


def _require_aware(performed_at: dt.datetime) -> None:
    if timezone.is_naive(performed_at):
        raise ValidationError(
            {"performed_at": "Give the time with its UTC offset, e.g. 2026-11-24T07:30:00+01:00."}
        )


def _check_performed_at(
    prescription: Prescription, performed_at: dt.datetime, now: dt.datetime
) -> None:
    if performed_at > now + FUTURE_TOLERANCE:
        raise ValidationError({"performed_at": "A set cannot be performed in the future."})
    if performed_at < now - MAX_LOG_AGE:
        raise ValidationError(
            {
                "performed_at": f"Sets older than {MAX_LOG_AGE_DAYS} days cannot be logged; ask "
                "your therapist to record it."
            }
        )
    if performed_at < prescription.started_at:
        raise ValidationError(
            {"performed_at": "This set was performed before the prescription started."}
        )


def _auto_advance(prescription: Prescription, at: dt.datetime) -> None:
    """Advance a prescription that opted in, once it is ready; the gate still applies.

    Never while the side has an open pain alert: a therapist reviews pain before the load goes up.
    """
    if not is_ready(prescription):
        return
    if next_stage(prescription.stage) is None:
        return  # ladder complete: a therapist decides what comes next
    if pain_alert_for(prescription.patient, prescription.side) is not None:
        return  # the alert says why the side waits
    if _patient_busy(prescription.patient):
        # A therapist is changing this patient's stages now: "ready" shows, the next set retries.
        return
    try:
        with transaction.atomic():
            prescription_advance(
                prescription=prescription,
                by=None,
                at=max(at, prescription.started_at),
                note="Advanced automatically: ready to progress.",
            )
    except ValidationError:
        # Clearance does not allow the next stage: the patient stays, and the "ready and not
        # acted on" alert tells the therapist why.
        return


@transaction.atomic
def set_void(*, set_log: SetLog, by: User, reason: str, at: dt.datetime | None = None) -> SetLog:
    """Void a set with a reason. It stays stored (and in the audit history) but counts for nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the set is voided."})
    locked = SetLog.objects.select_for_update().get(pk=set_log.pk)
    if locked.is_voided:
        raise InvalidTransition("This set is already voided.")
    locked.voided_at = at or timezone.now()
    locked.voided_by = by
    locked.void_reason = reason[:300]
    locked.full_clean(exclude=["patient", "prescription", "stage", "logged_by"])
    save_with_history(locked, by, update_fields=["voided_at", "voided_by", "void_reason"])
    return locked


@transaction.atomic
def pain_review_record(
    *,
    patient: Patient,
    side: str,
    outcome: str,
    by: User,
    note: str = "",
    at: dt.datetime | None = None,
    seen_through: dt.datetime | None = None,
) -> PainReview:
    """A therapist reviews a side's open pain alert, which closes it.

    `seen_through`: when the newest painful set the therapist was shown reached the clinic (the
    review form carries it). If a newer one has arrived since, the review is refused so the
    therapist sees it first; a review never closes a set no one looked at.

    - "regressed": the side goes down one stage as part of the review, unless its latest stage
      change since the alert opened is already a regress; at the first stage, or with no active
      prescription, there is nothing to regress and the review is refused (choose another
      outcome, or stop the side).
    - "continued": the side stays where it is.
    - "referred": the patient was referred to their doctor.

    The review closes the alert for every painful set that had reached the clinic by then; a later
    one opens a new alert. Who, when, what and the worst pain reviewed are kept (and in the audit
    history).
    """
    at = at or timezone.now()
    if side not in Side.values:
        raise ValidationError({"side": f"Side must be one of: {', '.join(Side.values)}."})
    if outcome not in PainOutcome.values or outcome == PainOutcome.CLOSED_EARLIER:
        raise ValidationError(
            {"outcome": "Choose what was decided: regressed, continued or referred."}
        )
    # A discharged patient's alert can still be reviewed (continued, referred); regressing needs
    # an active side and is refused by the regress itself.
    lock_patient(patient)
    alert = pain_alert_for(patient, side)
    if alert is None:
        raise InvalidTransition(
            f"No pain alert is open on {patient.full_name}'s {side} side: nothing to review."
        )
    if seen_through is not None and alert.last_logged_at > seen_through:
        raise InvalidTransition(
            f"Another painful set on the {side} side reached the clinic while you were reviewing "
            f"(now {alert.sets} set{'s' if alert.sets != 1 else ''}, worst "
            f"{alert.highest_pain}/10). Read the alert again, then record your decision."
        )
    if outcome == PainOutcome.REGRESSED:
        _regress_for_pain(patient, side, by, at, alert.opened_at, alert.highest_pain, note)
    review = PainReview(
        patient=patient,
        side=side,
        outcome=outcome,
        note=note.strip(),
        by=by,
        at=at,
        highest_pain=alert.highest_pain,
        painful_sets=alert.sets,
    )
    review.full_clean()
    save_with_history(review, by)
    return review


def _regress_for_pain(
    patient: Patient,
    side: str,
    by: User,
    at: dt.datetime,
    since: dt.datetime,
    pain: int,
    review_note: str,
) -> None:
    """The "regressed" review's stage change, done by `prescription_regress` (its rules hold).

    Skipped when the side's latest stage change since the alert opened is already a regress (the
    therapist moved it down first, then came to record the review); a regress followed by an
    advance is not "already regressed"."""
    latest = (
        StageChange.objects.filter(patient=patient, side=side, at__gte=since)
        .order_by("-at", "-id")
        .values_list("reason", flat=True)
        .first()
    )
    if latest == ChangeReason.REGRESSED:
        return
    current = Prescription.objects.active().filter(patient=patient, side=side).first()
    if current is None:
        raise InvalidTransition(
            f"The {side} side has no active prescription to regress; record “continued” or "
            f"“referred” instead."
        )
    try:
        prescription_regress(
            prescription=current,
            by=by,
            at=at,
            note=f"Pain {pain}/10: back one stage (pain alert reviewed). {review_note}".strip(),
        )
    except InvalidTransition as exc:
        # The regress's own refusal (e.g. the first stage), with what to do instead.
        raise InvalidTransition(
            f"{exc.message} For this review, record “continued” or “referred”."
        ) from exc
