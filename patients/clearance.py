"""The clearance gate (docs/domain.md, "Clearance gate"), in one place.

For a patient who requires clearance, a side may be started at, advanced to, or worked at a stage
on a given day only if the clearance note in effect that day allows it. The note in effect is the
one signed last on or before that day (a new note supersedes older ones, even a more permissive
older one); it must clear the patient (with or without restrictions), its review date must not
have passed, its highest allowed stage (if any) must be at least the stage, and none of its
movement precautions may rule the stage out on that side (`patients.precautions`: the stage's own
data says what it asks of the hip).

The requirement itself ends only with a note that says so ("no further clearance needed"), never
with a checkbox (`patients.services`). A note that does not clear the patient, or a requirement
set again after such a note, leaves the patient waiting for a new note.

When a clearance lapses, prescriptions are *paused*: derived from these rules on each read, never a
stored flag, so nothing has to run at midnight for a lapse to take effect.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from patients.errors import ClearanceRequired
from patients.models import CLEARING, ClearanceNote, Decision, Patient
from patients.precautions import StageDemands, conflict_message, conflicts


class ClearanceState(enum.StrEnum):
    NOT_REQUIRED = "not_required"
    MISSING = "missing"
    NOT_CLEARED = "not_cleared"
    LAPSED = "lapsed"
    DUE_FOR_REVIEW = "due_for_review"
    IN_FORCE = "in_force"


def _day(on: dt.date) -> str:
    return f"{on.day} {on:%b %Y}"


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

    def problem(self, stage: StageDemands, side: str) -> str | None:
        """What keeps this clearance from allowing `side` at `stage`, in a phrase (None: allowed).

        Only for a clearance in force: whether the patient is cleared at all is `summary`.
        """
        note = self.note
        if self.state == ClearanceState.NOT_REQUIRED or note is None or not self.in_force:
            return None
        if not note.allows_stage(stage.number):
            return (
                f"the clearance of {_day(note.signed_on)} allows up to stage {note.max_stage}, "
                f"not stage {stage.number}"
            )
        found = conflicts(note.precautions, stage, side, note.operated_side)
        if found:
            return "; ".join(conflict_message(c, note.signed_on) for c in found)
        return None

    def allows(self, stage: StageDemands, side: str) -> bool:
        if self.state == ClearanceState.NOT_REQUIRED:
            return True
        return self.in_force and self.problem(stage, side) is None

    @property
    def summary(self) -> str:
        """One line for a dashboard or a plan."""
        note = self.note
        match self.state:
            case ClearanceState.NOT_REQUIRED:
                return "No medical clearance required."
            case ClearanceState.MISSING:
                if note is not None and note.decision == Decision.NOT_REQUIRED:
                    return (
                        "Medical clearance required again; no clearance note is recorded since "
                        f"the one of {_day(note.signed_on)} that ended it."
                    )
                return "Medical clearance required; none is recorded."
            case ClearanceState.NOT_CLEARED:
                assert note is not None
                return (
                    f"Not cleared by {note.signed_by_name} ({note.signed_by_credentials}) "
                    f"on {_day(note.signed_on)}."
                )
            case ClearanceState.LAPSED:
                assert note is not None and note.review_on is not None
                return (
                    f"Clearance signed {_day(note.signed_on)} by {note.signed_by_name} "
                    f"lapsed after its review date {_day(note.review_on)}."
                )
            case ClearanceState.DUE_FOR_REVIEW:
                assert note is not None and note.review_on is not None
                return f"Clearance due for review on {_day(note.review_on)}.{_limits(note)}"
            case ClearanceState.IN_FORCE:
                assert note is not None and note.review_on is not None
                limit = f" up to stage {note.max_stage}" if note.max_stage else ""
                return f"Cleared{limit} until {_day(note.review_on)}.{_limits(note)}"


def _limits(note: ClearanceNote) -> str:
    precautions = [str(p.label).lower() for p in note.precautions]
    if not precautions:
        return ""
    return (
        f" Precautions ({note.get_operated_side_display().lower()} hip): {'; '.join(precautions)}."
    )


def note_in_effect(notes: Iterable[ClearanceNote], on: dt.date) -> ClearanceNote | None:
    """The note signed last on or before `on`: it supersedes every earlier one."""
    signed = [n for n in notes if n.signed_on <= on]
    if not signed:
        return None
    return max(signed, key=lambda n: (n.signed_on, n.recorded_at, n.pk or 0))


def clearance_status(
    patient: Patient,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
    *,
    review_soon_days: int | None = None,
) -> ClearanceStatus:
    """The patient's clearance on a day. Pass `notes` when they are already prefetched."""
    if not patient.requires_clearance:
        return ClearanceStatus(ClearanceState.NOT_REQUIRED, None, on)
    if notes is None:
        notes = patient.clearance_notes.all()
    note = note_in_effect(notes, on)
    if note is None or note.decision == Decision.NOT_REQUIRED:
        # A "no further clearance needed" note in effect while clearance is required means the
        # requirement was set again after it: a new sign-off is needed.
        return ClearanceStatus(ClearanceState.MISSING, note, on)
    if note.decision not in CLEARING:
        return ClearanceStatus(ClearanceState.NOT_CLEARED, note, on)
    assert note.review_on is not None  # a database constraint for every clearing note
    if note.review_on < on:
        return ClearanceStatus(ClearanceState.LAPSED, note, on)
    soon = patient.clinic.review_soon_days if review_soon_days is None else review_soon_days
    if (note.review_on - on).days <= soon:
        return ClearanceStatus(ClearanceState.DUE_FOR_REVIEW, note, on)
    return ClearanceStatus(ClearanceState.IN_FORCE, note, on)


def clearance_problem(
    patient: Patient,
    stage: StageDemands,
    side: str,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> str | None:
    """Why this patient may not work `side` at `stage` on `on` (for the care team), or None."""
    status = clearance_status(patient, on, notes)
    if status.allows(stage, side):
        return None
    note = status.note
    needs = f"{patient.full_name} needs medical clearance ({patient.clearance_reason})"
    match status.state:
        case ClearanceState.MISSING:
            return (
                f"{needs} before stage {stage.number}, and no clearance note signed on or before "
                f"{_day(on)} clears them. Record the medical team's clearance note first."
            )
        case ClearanceState.NOT_CLEARED:
            assert note is not None
            return (
                f"{needs}: the latest clearance note, signed {_day(note.signed_on)} by "
                f"{note.signed_by_name}, does not clear the patient. A new note that clears them "
                f"is needed."
            )
        case ClearanceState.LAPSED:
            assert note is not None and note.review_on is not None
            return (
                f"{needs}: the clearance signed {_day(note.signed_on)} by {note.signed_by_name} "
                f"lapsed after its review date {_day(note.review_on)}. Record a new clearance "
                f"note."
            )
        case _:
            problem = status.problem(stage, side)
            assert note is not None and problem is not None
            return (
                f"{problem[0].upper()}{problem[1:]}. A new clearance note that allows it is "
                f"needed before the {side} side works at stage {stage.number}."
            )


def check_clearance(
    patient: Patient,
    stage: StageDemands,
    side: str,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> None:
    """The gate: raise ClearanceRequired, saying what is missing, unless the stage is allowed."""
    problem = clearance_problem(patient, stage, side, on, notes)
    if problem:
        raise ClearanceRequired(problem)


def clearance_problem_for_patient(
    patient: Patient,
    stage: StageDemands,
    side: str,
    on: dt.date,
    notes: Iterable[ClearanceNote] | None = None,
) -> str | None:
    """The same gate as `clearance_problem`, worded for the patient (who cannot record a note)."""
    status = clearance_status(patient, on, notes)
    if status.allows(stage, side):
        return None
    note = status.note
    if status.in_force and note is not None:
        if not note.allows_stage(stage.number):
            return (
                f"Your medical clearance allows exercises up to stage {note.max_stage}; your "
                f"therapist needs a new clearance before stage {stage.number}."
            )
        found = conflicts(note.precautions, stage, side, note.operated_side)
        rules = "; ".join(str(c.precaution.label).lower() for c in found)
        return (
            f"Your surgeon's or doctor's precautions ({rules}) rule out stage {stage.number} on "
            f"your {side} side. Please do not do it; your therapist will choose another exercise "
            f"with you."
        )
    return status.summary
