"""The clearance gate (docs/domain.md, "Clearance gate") and clearance notes, on fixed days."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.clearance import (
    ClearanceState,
    check_clearance,
    clearance_problem,
    clearance_problem_for_patient,
    clearance_status,
    note_in_effect,
)
from patients.errors import ClearanceRequired
from patients.models import ClearanceNote, Decision, WeightBearing
from patients.services import clearance_note_record
from tests.factories import record_clearance, stage

TODAY = dt.date(2026, 1, 14)
DAY = dt.timedelta(days=1)
NOON = dt.datetime(2026, 1, 14, 12, tzinfo=dt.UTC)


def refusal(patient, stage_number, on=TODAY, side="left") -> str:
    with pytest.raises(ClearanceRequired) as excinfo:
        check_clearance(patient, stage(stage_number), side, on)
    return str(excinfo.value)


# -- who needs it ----------------------------------------------------------------------------


def test_a_patient_not_requiring_clearance_passes_at_every_stage(patient):
    for number in (1, 2, 3, 4):
        check_clearance(patient, stage(number), "left", TODAY)
    assert clearance_status(patient, TODAY).state == ClearanceState.NOT_REQUIRED


def test_a_note_recorded_for_a_patient_not_requiring_clearance_turns_the_requirement_on(
    patient, therapist
):
    # The note's review date and limits mean something only under the gate: recording one says
    # the medical team has a say, so the requirement follows (and the history says why).
    record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY,
        review_on=TODAY + 30 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    patient.refresh_from_db()
    assert patient.requires_clearance
    assert patient.clearance_reason == "Pelvic fracture, conservatively managed"
    assert "does not clear" in refusal(patient, 1)
    assert "Required by the clearance note" in patient.history.first().history_change_reason


def test_requiring_clearance_with_no_note_is_refused_saying_none_is_recorded(fracture):
    message = refusal(fracture, 1)
    assert "no clearance note signed on or before 14 Jan 2026 clears them" in message
    assert "pelvic fracture" in message
    status = clearance_status(fracture, TODAY)
    assert status.state == ClearanceState.MISSING
    assert "none is recorded" in status.summary


def test_a_note_signed_after_the_day_does_not_count(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    assert clearance_status(fracture, TODAY - DAY).state == ClearanceState.MISSING
    assert "no clearance note signed on or before 13 Jan 2026" in refusal(fracture, 1, TODAY - DAY)
    check_clearance(fracture, stage(1), "left", TODAY)


def test_a_not_cleared_note_is_refused(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert "does not clear the patient" in refusal(fracture, 1)
    assert clearance_status(fracture, TODAY).state == ClearanceState.NOT_CLEARED


def test_a_cleared_note_in_force_allows_every_stage(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - DAY, review_on=TODAY + 60 * DAY)
    for number in (1, 2, 3, 4):
        check_clearance(fracture, stage(number), "left", TODAY)
    assert clearance_status(fracture, TODAY).state == ClearanceState.IN_FORCE


def test_a_note_signed_today_is_in_force_today(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    check_clearance(fracture, stage(1), "left", TODAY)


def test_a_passed_review_date_is_refused_as_lapsed(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    message = refusal(fracture, 1)
    assert "lapsed" in message
    assert "13 Jan 2026" in message
    status = clearance_status(fracture, TODAY)
    assert status.state == ClearanceState.LAPSED
    assert not status.in_force
    assert "lapsed" in status.summary


def test_the_review_date_itself_is_still_in_force(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY)
    check_clearance(fracture, stage(4), "left", TODAY)
    assert clearance_status(fracture, TODAY).in_force


def test_a_restriction_to_stage_2_allows_stage_2_and_refuses_stage_3(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
    )
    check_clearance(fracture, stage(1), "left", TODAY)
    check_clearance(fracture, stage(2), "left", TODAY)
    message = refusal(fracture, 3)
    assert "up to stage 2" in message
    assert "not stage 3" in message
    assert "A new clearance note that allows it is needed" in message
    assert "up to stage 2" in clearance_status(fracture, TODAY).summary


def test_a_restriction_without_a_stage_limit_allows_every_stage(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        restrictions="No resisted exercise on the affected side",
    )
    check_clearance(fracture, stage(4), "left", TODAY)


def test_a_newer_not_cleared_note_supersedes_an_older_cleared_one(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 30 * DAY, review_on=TODAY + 60 * DAY)
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - 2 * DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert "does not clear" in refusal(fracture, 1)
    # ...but on a day before the newer note, the older one was in force.
    check_clearance(fracture, stage(1), "left", TODAY - 3 * DAY)


def test_a_newer_cleared_note_supersedes_an_older_lapsed_one(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 90 * DAY, review_on=TODAY - 30 * DAY)
    assert "lapsed" in refusal(fracture, 1)
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    check_clearance(fracture, stage(1), "left", TODAY)


def test_a_newer_restricted_note_supersedes_an_older_permissive_one(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 30 * DAY, review_on=TODAY + 60 * DAY)
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=1,
    )
    assert "not stage 2" in refusal(fracture, 2)


def test_of_two_notes_signed_the_same_day_the_one_recorded_last_is_in_force(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - DAY, review_on=TODAY + 60 * DAY)
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert clearance_status(fracture, TODAY).state == ClearanceState.NOT_CLEARED


def test_the_tie_break_does_not_depend_on_the_order_notes_are_given_in(fracture, therapist):
    older = record_clearance(
        fracture, by=therapist, signed_on=TODAY - DAY, review_on=TODAY + 60 * DAY
    )
    newer = record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert note_in_effect([older, newer], TODAY) == newer
    assert note_in_effect([newer, older], TODAY) == newer
    assert note_in_effect([newer, older], TODAY - 2 * DAY) is None


def test_a_note_signed_later_wins_even_when_recorded_earlier(fracture, therapist):
    # Recorded first but signed later: the signing date decides which note supersedes.
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    record_clearance(fracture, by=therapist, signed_on=TODAY - 10 * DAY, review_on=TODAY + 60 * DAY)
    assert clearance_status(fracture, TODAY).state == ClearanceState.NOT_CLEARED


def test_review_due_within_7_days_is_due_for_review(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 30 * DAY, review_on=TODAY + 7 * DAY)
    status = clearance_status(fracture, TODAY)
    assert status.state == ClearanceState.DUE_FOR_REVIEW
    assert status.in_force
    assert "due for review on 21 Jan 2026" in status.summary


def test_review_in_8_days_is_simply_in_force(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 30 * DAY, review_on=TODAY + 8 * DAY)
    assert clearance_status(fracture, TODAY).state == ClearanceState.IN_FORCE


def test_a_single_note_is_in_force_within_its_dates_and_allows_up_to_its_limit(fracture, therapist):
    note = record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY,
        review_on=TODAY + 30 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=3,
    )
    assert note.is_in_force(TODAY)
    assert note.is_in_force(TODAY + 30 * DAY)
    assert note.allows_stage(3)
    assert not note.allows_stage(4)
    assert not note.is_in_force(TODAY - DAY)
    assert not note.is_in_force(TODAY + 31 * DAY)


def test_a_not_cleared_note_is_never_in_force(fracture, therapist):
    note = record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY,
        review_on=TODAY + 30 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert not note.is_in_force(TODAY)


def test_clearance_problem_is_none_when_allowed(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    assert clearance_problem(fracture, stage(4), "left", TODAY) is None


def test_prefetched_notes_are_used_without_a_query(fracture, therapist, django_assert_num_queries):
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    notes = list(ClearanceNote.objects.filter(patient=fracture))
    with django_assert_num_queries(0):
        assert clearance_status(fracture, TODAY, notes).state == ClearanceState.IN_FORCE


# -- recording notes -------------------------------------------------------------------------


def test_a_restricted_note_must_say_what_the_restriction_is(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(
            fracture,
            by=therapist,
            signed_on=TODAY,
            review_on=TODAY + 60 * DAY,
            decision=Decision.RESTRICTED,
        )
    assert "restrictions" in excinfo.value.message_dict
    assert not ClearanceNote.objects.exists()


@pytest.mark.parametrize(
    "restriction",
    [
        {"max_stage": 2},
        {"restrictions": "No resistance bands"},
        {"weight_bearing": WeightBearing.PARTIAL},
    ],
)
def test_a_restricted_note_with_any_restriction_is_recorded(fracture, therapist, restriction):
    clearance_note_record(
        patient=fracture,
        reason="Pelvic fracture",
        decision=Decision.RESTRICTED,
        signed_by_name="Dr. Ada Osei",
        signed_by_credentials="MD",
        signed_on=TODAY,
        review_on=TODAY + 60 * DAY,
        recorded_by=therapist,
        now=NOON,
        **restriction,
    )
    assert ClearanceNote.objects.filter(patient=fracture).count() == 1


def test_a_restricted_note_with_full_weight_bearing_alone_is_no_restriction(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        clearance_note_record(
            patient=fracture,
            reason="Pelvic fracture",
            decision=Decision.RESTRICTED,
            weight_bearing=WeightBearing.FULL,
            signed_by_name="Dr. Ada Osei",
            signed_by_credentials="MD",
            signed_on=TODAY,
            review_on=TODAY + 60 * DAY,
            recorded_by=therapist,
            now=NOON,
        )
    assert "restrictions" in excinfo.value.message_dict


def test_a_not_cleared_note_cannot_allow_a_stage(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(
            fracture,
            by=therapist,
            signed_on=TODAY,
            review_on=TODAY + 60 * DAY,
            decision=Decision.NOT_CLEARED,
            max_stage=2,
        )
    assert "max_stage" in excinfo.value.message_dict
    assert not ClearanceNote.objects.exists()


def test_a_note_signed_in_the_future_is_refused(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(
            fracture, by=therapist, signed_on=TODAY + DAY, review_on=TODAY + 60 * DAY, today=TODAY
        )
    assert "signed_on" in excinfo.value.message_dict
    assert not ClearanceNote.objects.exists()


def test_a_note_reviewed_before_it_was_signed_is_refused_by_validation(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY - DAY)
    assert "The review date cannot be before the date signed." in str(excinfo.value)
    assert not ClearanceNote.objects.exists()


def test_a_recorded_note_keeps_who_signed_and_who_recorded_it(fracture, therapist):
    note = record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    note.refresh_from_db()
    assert note.recorded_by == therapist
    assert note.signed_by_name == "Dr. Ada Osei"
    assert note.signed_by_credentials == "MD, orthopaedics"


# -- the same gate, worded for the patient ----------------------------------------------------


def test_the_patient_is_told_about_a_lapse_without_therapist_instructions(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    message = clearance_problem_for_patient(fracture, stage(1), "left", TODAY)
    assert "lapsed" in message
    assert "Record" not in message


def test_the_patient_is_told_which_stage_the_restriction_allows(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
    )
    assert clearance_problem_for_patient(fracture, stage(2), "left", TODAY) is None
    message = clearance_problem_for_patient(fracture, stage(3), "left", TODAY)
    assert "up to stage 2" in message
    assert "before stage 3" in message


def test_the_patient_wording_refuses_exactly_when_the_gate_does(fracture, therapist):
    for stage_number in (1, 4):
        assert (
            clearance_problem_for_patient(fracture, stage(stage_number), "left", TODAY) is None
        ) == (clearance_problem(fracture, stage(stage_number), "left", TODAY) is None)
