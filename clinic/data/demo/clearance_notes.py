"""The medical team's clearance notes the demo stories record, through `clearance_note_record`:
the note on file at the first visit, NOT_CLEARED's "no hip exercises yet", and the full clearance
that lifts RESTRICTED's limit."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth.models import User

from clinic.data.demo.stories import Scenario
from patients.models import Decision, Patient, WeightBearing
from patients.precautions import Precaution
from patients.services import clearance_note_record

# Who signs the notes of the fracture stories.
_TRAUMA_DOCTOR = ("Dr. Ada Osei", "MD, orthopaedic trauma")


@dataclass(frozen=True)
class Recording:
    """A therapist recording a note for a patient at a moment."""

    patient: Patient
    therapist: User
    at: dt.datetime


@dataclass(frozen=True)
class _Note:
    """What a story's note says; `record` writes it, its review date counted from the day given."""

    reason: str
    decision: str
    weight_bearing: str
    review_in_days: int
    # A first visit's note whose review date counts from that visit, not from today.
    review_from_first_visit: bool = False
    max_stage: int | None = None
    restrictions: str = ""
    precautions: tuple[str, ...] = ()
    # Days from the surgery to the sign-off, for a note that dates its procedure.
    procedure_days_before: int | None = None
    # Whether the note names the operated side (the patient's affected side).
    names_operated_side: bool = False
    signer: tuple[str, str] = _TRAUMA_DOCTOR

    def record(self, recording: Recording, signed_on: dt.date, review_from: dt.date) -> None:
        procedure_on = None
        if self.procedure_days_before is not None:
            procedure_on = signed_on - dt.timedelta(days=self.procedure_days_before)
        clearance_note_record(
            patient=recording.patient,
            reason=self.reason,
            procedure_on=procedure_on,
            decision=self.decision,
            weight_bearing=self.weight_bearing,
            max_stage=self.max_stage,
            precautions=self.precautions,
            operated_side=recording.patient.affected_side if self.names_operated_side else "",
            restrictions=self.restrictions,
            review_on=review_from + dt.timedelta(days=self.review_in_days),
            signed_by_name=self.signer[0],
            signed_by_credentials=self.signer[1],
            signed_on=signed_on,
            recorded_by=recording.therapist,
            now=recording.at,
        )


# The note on file at the first visit, for the stories that start with one.
_FIRST_NOTES: dict[Scenario, _Note] = {
    Scenario.POSTERIOR_HIP: _Note(
        reason="Total hip replacement, posterior approach; wound healed.",
        procedure_days_before=35,
        decision=Decision.RESTRICTED,
        weight_bearing=WeightBearing.FULL,
        precautions=(Precaution.NO_INTERNAL_ROTATION, Precaution.NO_FLEXION_PAST_90),
        names_operated_side=True,
        restrictions="Posterior hip precautions for 12 weeks after surgery: a pillow "
        "between the knees when lying on the side.",
        review_in_days=40,
        signer=("Mr. James Okonkwo", "FRCS (Orth), hip surgeon"),
    ),
    # It lapsed six days ago and no new note has come in: the plan is paused.
    Scenario.CLEARANCE_LAPSED: _Note(
        reason="Pelvic fracture (pubic rami), managed without surgery; healing well.",
        decision=Decision.CLEARED,
        weight_bearing=WeightBearing.AS_TOLERATED,
        review_in_days=-6,
    ),
    Scenario.RESTRICTED: _Note(
        reason="Pelvic fracture (pubic rami), managed without surgery.",
        decision=Decision.RESTRICTED,
        weight_bearing=WeightBearing.AS_TOLERATED,
        max_stage=2,
        restrictions="Stages 1–2 only until the fracture clinic reviews the X-ray.",
        review_in_days=90,
        review_from_first_visit=True,
    ),
    Scenario.REVIEW_DUE: _Note(
        reason="Total hip replacement, posterior approach; wound healed.",
        decision=Decision.CLEARED,
        weight_bearing=WeightBearing.FULL,
        review_in_days=5,
    ),
}
_NOT_CLEARED = _Note(
    reason="Acetabular fracture, fixed five weeks ago.",
    decision=Decision.NOT_CLEARED,
    weight_bearing=WeightBearing.TOUCH,
    restrictions="Touch-toe weight-bearing; no hip exercises until the 8-week review.",
    review_in_days=14,
    signer=("Dr. Luis Ortega", "MD, orthopaedic surgery"),
)
_FULL_CLEARANCE = _Note(
    reason="Pelvic fracture (pubic rami): united on X-ray.",
    decision=Decision.CLEARED,
    weight_bearing=WeightBearing.FULL,
    review_in_days=90,
)


def initial_clearance_record(
    recording: Recording, scenario: Scenario, day: dt.date, today: dt.date, rng: random.Random
) -> None:
    """The note on file at the first visit (`day`), for the stories that start with one; it is
    recorded that morning, before the prescriptions it allows."""
    note = _FIRST_NOTES.get(scenario)
    if note is None:
        return
    signed_on = day - dt.timedelta(days=rng.randint(2, 6))
    note.record(recording, signed_on, review_from=day if note.review_from_first_visit else today)


def not_cleared_record(recording: Recording, signed_on: dt.date, today: dt.date) -> None:
    """NOT_CLEARED's note: no hip exercises until the fracture clinic's review."""
    _NOT_CLEARED.record(recording, signed_on, review_from=today)


def full_clearance_record(recording: Recording, day: dt.date) -> None:
    """RESTRICTED's second note, signed the day before `day`: cleared with no stage limit."""
    _FULL_CLEARANCE.record(recording, day - dt.timedelta(days=1), review_from=day)
