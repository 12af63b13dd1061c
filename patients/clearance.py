"""The clearance gate (DESIGN §4), in one place.

For a patient who requires clearance, a stage may be started, advanced to, or worked at on a given
day only if the clearance note in force that day allows it. The note in force is the one signed last
on or before that day (a new note supersedes older ones, even a more permissive older one); it must
clear the patient (with or without restrictions), its review date must not have passed, and its
highest allowed stage (if any) must be at least the stage.

When a clearance lapses, prescriptions are *paused*: derived from these rules on each read, never a
stored flag, so nothing has to run at midnight for a lapse to take effect.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from patients.errors import ClearanceRequired
from patients.models import ClearanceNote, Decision, Patient

# Alert when a clearance's review date falls within this many days (DESIGN §4).
REVIEW_SOON_DAYS = 7


class ClearanceState(enum.StrEnum):
    NOT_REQUIRED = "not_required"
    MISSING = "missing"
    NOT_CLEARED = "not_cleared"
    LAPSED = "lapsed"
    DUE_FOR_REVIEW = "due_for_review"
    IN_FORCE = "in_force"


@dataclass(frozen=True)
class ClearanceStatus:
    state: ClearanceState
    note: ClearanceNote | None
    on: dt.date

    @property
    def in_force(self) -> bool:
        return self.state in (
            ClearanceState.NOT_REQUIRED,
            ClearanceState.IN_FORCE,
            ClearanceState.DUE_FOR_REVIEW,
        )

    def allows_stage(self, stage_number: int) -> bool:
        if self.state == ClearanceState.NOT_REQUIRED:
            return True
        return self.in_force and self.note is not None and self.note.allows_stage(stage_number)

    @property
    def summary(self) -> str:
        """One line for a dashboard or a plan."""
        note = self.note
        match self.state:
            case ClearanceState.NOT_REQUIRED:
                return "No medical clearance required."
            case ClearanceState.MISSING:
                return "Medical clearance required; none is recorded."
            case ClearanceState.NOT_CLEARED:
                assert note is not None
                return (
                    f"Not cleared by {note.signed_by_name} ({note.signed_by_credentials}) "
                    f"on {note.signed_on:%d %b %Y}."
                )
            case ClearanceState.LAPSED:
                assert note is not None
                return (
                    f"Clearance signed {note.signed_on:%d %b %Y} by {note.signed_by_name} "
                    f"lapsed after its review date {note.review_on:%d %b %Y}."
                )
            case ClearanceState.DUE_FOR_REVIEW:
                assert note is not None
                return f"Clearance due for review on {note.review_on:%d %b %Y}."
            case ClearanceState.IN_FORCE:
                assert note is not None
                limit = f" up to stage {note.max_stage}" if note.max_stage else ""
                return f"Cleared{limit} until {note.review_on:%d %b %Y}."


def note_in_effect(notes: Iterable[ClearanceNote], on: dt.date) -> ClearanceNote | None:
    """The note signed last on or before `on`: it supersedes every earlier one."""
    signed = [n for n in notes if n.signed_on <= on]
    if not signed:
        return None
    return max(signed, key=lambda n: (n.signed_on, n.recorded_at, n.pk or 0))


def clearance_status(
    patient: Patient, on: dt.date, notes: Iterable[ClearanceNote] | None = None
) -> ClearanceStatus:
    """The patient's clearance on a day. Pass `notes` when they are already prefetched."""
    if not patient.requires_clearance:
        return ClearanceStatus(ClearanceState.NOT_REQUIRED, None, on)
    if notes is None:
        notes = patient.clearance_notes.all()
    note = note_in_effect(notes, on)
    if note is None:
        return ClearanceStatus(ClearanceState.MISSING, None, on)
    if note.decision == Decision.NOT_CLEARED:
        return ClearanceStatus(ClearanceState.NOT_CLEARED, note, on)
    if note.review_on < on:
        return ClearanceStatus(ClearanceState.LAPSED, note, on)
    if (note.review_on - on).days <= REVIEW_SOON_DAYS:
        return ClearanceStatus(ClearanceState.DUE_FOR_REVIEW, note, on)
    return ClearanceStatus(ClearanceState.IN_FORCE, note, on)


def clearance_problem(
    patient: Patient,
    stage_number: int,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> str | None:
    """Why this patient may not work at `stage_number` on `on`, or None when they may."""
    status = clearance_status(patient, on, notes)
    if status.allows_stage(stage_number):
        return None
    note = status.note
    needs = f"{patient.full_name} needs medical clearance ({patient.clearance_reason})"
    match status.state:
        case ClearanceState.MISSING:
            return (
                f"{needs} before stage {stage_number}, and no clearance note signed on or before "
                f"{on:%d %b %Y} is recorded. Record the medical team's clearance note first."
            )
        case ClearanceState.NOT_CLEARED:
            assert note is not None
            return (
                f"{needs}: the latest clearance note, signed {note.signed_on:%d %b %Y} by "
                f"{note.signed_by_name}, does not clear the patient. A new note that clears them "
                f"is needed."
            )
        case ClearanceState.LAPSED:
            assert note is not None
            return (
                f"{needs}: the clearance signed {note.signed_on:%d %b %Y} by {note.signed_by_name} "
                f"lapsed after its review date {note.review_on:%d %b %Y}. Record a new clearance "
                f"note."
            )
        case _:
            assert note is not None and note.max_stage is not None
            return (
                f"{needs}: the clearance in force (signed {note.signed_on:%d %b %Y} by "
                f"{note.signed_by_name}) allows up to stage {note.max_stage}, not stage "
                f"{stage_number}. A new clearance note allowing stage {stage_number} is needed."
            )


def check_clearance(
    patient: Patient,
    stage_number: int,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> None:
    """The gate: raise ClearanceRequired, saying what is missing, unless the stage is allowed."""
    problem = clearance_problem(patient, stage_number, on, notes)
    if problem:
        raise ClearanceRequired(problem)


def clearance_problem_for_patient(
    patient: Patient,
    stage_number: int,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> str | None:
    """The same gate as `clearance_problem`, worded for the patient (who cannot record a note)."""
    status = clearance_status(patient, on, notes)
    if status.allows_stage(stage_number):
        return None
    if status.in_force and status.note is not None:
        return (
            f"Your medical clearance allows exercises up to stage {status.note.max_stage}; your "
            f"therapist needs a new clearance before stage {stage_number}."
        )
    return status.summary
