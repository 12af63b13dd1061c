"""Prescription services: start, advance, regress, stop, discharge, and the clearance gate."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from exercises.models import ChangeReason, Ladder, Prescription, Stage, StageChange
from exercises.services import (
    patient_discharge,
    pause_reason,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
)
from patients.errors import ClearanceRequired, InvalidTransition, PrescriptionEnded
from patients.models import Decision, Patient
from tests.factories import record_clearance, stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def start(patient, by, *, side="left", number=1, at=NOW - 7 * DAY, **dose):
    return prescription_start(patient=patient, side=side, stage=stage(number), by=by, at=at, **dose)


# -- start -----------------------------------------------------------------------------------


def test_start_records_a_stage_change_from_nothing_to_the_stage(patient, therapist):
    prescription = start(patient, therapist, number=2)
    assert prescription.is_active
    assert prescription.started_at == NOW - 7 * DAY
    assert prescription.prescribed_by == therapist
    change = StageChange.objects.get(patient=patient)
    assert change.reason == ChangeReason.START
    assert change.from_stage is None
    assert change.to_stage == stage(2)
    assert change.side == "left"
    assert change.by == therapist
    assert change.at == NOW - 7 * DAY
    assert change.prescription == prescription


def test_start_keeps_the_dose_given(patient, therapist):
    prescription = start(
        patient, therapist, target_sets=4, target_reps=12, sessions_per_week=3, progress_at_reps=15
    )
    prescription.refresh_from_db()
    assert (prescription.target_sets, prescription.target_reps) == (4, 12)
    assert (prescription.sessions_per_week, prescription.progress_at_reps) == (3, 15)


def test_a_second_start_on_the_same_side_is_refused(patient, therapist):
    start(patient, therapist)
    with pytest.raises(InvalidTransition) as excinfo:
        start(patient, therapist, number=2, at=NOW)
    assert "left side already has an active prescription (stage 1)" in str(excinfo.value)
    assert Prescription.objects.filter(patient=patient).count() == 1
    assert StageChange.objects.filter(patient=patient).count() == 1


def test_the_other_side_starts_independently(patient, therapist):
    start(patient, therapist, side="left", number=2)
    start(patient, therapist, side="right", number=4)
    assert sorted(
        Prescription.objects.active().filter(patient=patient).values_list("side", "stage__number")
    ) == [("left", 2), ("right", 4)]


def test_a_side_outside_the_choices_is_refused(patient, therapist):
    with pytest.raises(ValidationError) as excinfo:
        start(patient, therapist, side="both")
    assert "side" in excinfo.value.message_dict
    assert not Prescription.objects.exists()


def test_a_dose_out_of_range_is_refused_naming_the_field(patient, therapist):
    with pytest.raises(ValidationError) as excinfo:
        start(patient, therapist, target_sets=11)
    assert "target_sets" in excinfo.value.message_dict
    assert not Prescription.objects.exists()
    assert not StageChange.objects.exists()


def test_a_discharged_patient_cannot_be_started(patient, therapist):
    patient_discharge(patient=patient, by=therapist, at=NOW - DAY)
    with pytest.raises(InvalidTransition) as excinfo:
        start(patient, therapist, at=NOW)
    assert "discharged" in str(excinfo.value)
    assert not Prescription.objects.exists()


# -- advance ---------------------------------------------------------------------------------


def test_advance_ends_the_old_and_starts_the_next_with_the_same_dose(patient, therapist, colleague):
    first = start(
        patient,
        therapist,
        target_sets=4,
        target_reps=12,
        hold_at_top_seconds=2,
        sessions_per_week=6,
        progress_at_reps=15,
        pain_ceiling=2,
    )
    second = prescription_advance(prescription=first, by=colleague, at=NOW, note="Did 20 reps")

    first.refresh_from_db()
    assert first.ended_at == NOW
    assert second.stage == stage(2)
    assert second.side == "left"
    assert second.started_at == NOW
    assert second.ended_at is None
    assert second.prescribed_by == colleague
    for field in (
        "target_sets",
        "target_reps",
        "hold_at_top_seconds",
        "sessions_per_week",
        "progress_at_reps",
        "pain_ceiling",
        "auto_advance",
    ):
        assert getattr(second, field) == getattr(first, field), field
    change = StageChange.objects.get(prescription=second)
    assert change.reason == ChangeReason.PROGRESSED
    assert (change.from_stage, change.to_stage) == (stage(1), stage(2))
    assert change.by == colleague
    assert change.at == NOW
    assert change.note == "Did 20 reps"


def test_advance_leaves_exactly_one_active_prescription_on_the_side(patient, therapist):
    first = start(patient, therapist)
    prescription_advance(prescription=first, by=therapist, at=NOW)
    assert list(
        Prescription.objects.active()
        .filter(patient=patient)
        .values_list("stage__number", flat=True)
    ) == [2]


def test_advance_climbs_the_whole_ladder_one_stage_at_a_time(patient, therapist):
    prescription = start(patient, therapist)
    for hours in (1, 2, 3):
        prescription = prescription_advance(
            prescription=prescription, by=therapist, at=NOW - 7 * DAY + hours * HOUR
        )
    assert prescription.stage == stage(4)
    assert list(
        StageChange.objects.filter(patient=patient).values_list(
            "reason", "from_stage__number", "to_stage__number"
        )
    ) == [
        ("start", None, 1),
        ("progressed", 1, 2),
        ("progressed", 2, 3),
        ("progressed", 3, 4),
    ]


def test_advance_at_stage_4_is_refused_as_the_top_of_the_ladder(patient, therapist):
    top = start(patient, therapist, number=4)
    with pytest.raises(InvalidTransition) as excinfo:
        prescription_advance(prescription=top, by=therapist, at=NOW)
    assert "top of the ladder" in str(excinfo.value)
    assert "ladder is complete" in str(excinfo.value)
    top.refresh_from_db()
    assert top.is_active
    assert StageChange.objects.filter(patient=patient).count() == 1


def test_advancing_an_ended_prescription_is_refused(patient, therapist):
    first = start(patient, therapist)
    prescription_advance(prescription=first, by=therapist, at=NOW - DAY)
    with pytest.raises(PrescriptionEnded):
        # A second click on a stale page: `first` has ended meanwhile.
        prescription_advance(prescription=first, by=therapist, at=NOW)
    assert Prescription.objects.filter(patient=patient).count() == 2
    assert Prescription.objects.active().get(patient=patient).stage == stage(2)


def test_regressing_or_stopping_an_ended_prescription_is_refused(patient, therapist):
    first = start(patient, therapist, number=2)
    prescription_advance(prescription=first, by=therapist, at=NOW - DAY)
    with pytest.raises(PrescriptionEnded):
        prescription_regress(prescription=first, by=therapist, at=NOW)
    with pytest.raises(PrescriptionEnded):
        prescription_stop(prescription=first, by=therapist, at=NOW)


def test_a_change_dated_before_the_prescription_started_is_refused(patient, therapist):
    first = start(patient, therapist, at=NOW)
    with pytest.raises(ValidationError) as excinfo:
        prescription_advance(prescription=first, by=therapist, at=NOW - HOUR)
    assert "at" in excinfo.value.message_dict
    first.refresh_from_db()
    assert first.is_active
    assert Prescription.objects.filter(patient=patient).count() == 1


# -- regress and stop ------------------------------------------------------------------------


def test_regress_moves_one_stage_down(patient, therapist):
    second = start(patient, therapist, number=2, target_reps=15)
    first = prescription_regress(prescription=second, by=therapist, at=NOW, note="Pain 6/10")
    second.refresh_from_db()
    assert second.ended_at == NOW
    assert first.stage == stage(1)
    assert first.target_reps == 15
    change = StageChange.objects.get(prescription=first)
    assert change.reason == ChangeReason.REGRESSED
    assert (change.from_stage, change.to_stage) == (stage(2), stage(1))
    assert change.by == therapist


def test_regress_at_stage_1_is_refused(patient, therapist):
    first = start(patient, therapist, number=1)
    with pytest.raises(InvalidTransition) as excinfo:
        prescription_regress(prescription=first, by=therapist, at=NOW)
    assert "first stage" in str(excinfo.value)
    first.refresh_from_db()
    assert first.is_active


def test_stop_ends_the_prescription_with_a_stage_change_to_nothing(patient, therapist):
    third = start(patient, therapist, number=3)
    stopped = prescription_stop(prescription=third, by=therapist, at=NOW, note="Goals met")
    assert stopped.pk == third.pk
    third.refresh_from_db()
    assert third.ended_at == NOW
    assert not Prescription.objects.active().filter(patient=patient).exists()
    change = StageChange.objects.filter(patient=patient).last()
    assert change.reason == ChangeReason.STOPPED
    assert (change.from_stage, change.to_stage) == (stage(3), None)
    assert change.prescription == third
    assert change.by == therapist


def test_a_stopped_side_can_be_started_again(patient, therapist):
    first = start(patient, therapist)
    prescription_stop(prescription=first, by=therapist, at=NOW - DAY)
    again = start(patient, therapist, number=2, at=NOW)
    assert again.is_active


def test_discharge_stops_every_active_prescription(patient, therapist):
    left = start(patient, therapist, side="left", number=1)
    right = start(patient, therapist, side="right", number=3)
    patient_discharge(patient=patient, by=therapist, at=NOW)

    patient.refresh_from_db()
    assert patient.discharged_at == NOW
    assert not patient.is_active
    assert not Prescription.objects.active().filter(patient=patient).exists()
    for prescription in (left, right):
        prescription.refresh_from_db()
        assert prescription.ended_at == NOW
    assert sorted(
        StageChange.objects.filter(patient=patient, reason=ChangeReason.STOPPED).values_list(
            "side", "from_stage__number", "note"
        )
    ) == [("left", 1, "Discharged."), ("right", 3, "Discharged.")]


def test_discharging_twice_is_refused(patient, therapist):
    patient_discharge(patient=patient, by=therapist, at=NOW)
    with pytest.raises(InvalidTransition):
        patient_discharge(patient=patient, by=therapist, at=NOW)


def test_discharge_leaves_other_patients_alone(patient, other_patient, therapist):
    start(patient, therapist)
    theirs = start(other_patient, therapist)
    patient_discharge(patient=patient, by=therapist, at=NOW)
    theirs.refresh_from_db()
    assert theirs.is_active


# -- the clearance gate, through the services ------------------------------------------------


def test_start_without_clearance_is_refused_and_writes_nothing(fracture, therapist):
    with pytest.raises(ClearanceRequired) as excinfo:
        start(fracture, therapist, at=NOW)
    assert "no clearance note" in str(excinfo.value)
    assert not Prescription.objects.filter(patient=fracture).exists()
    assert not StageChange.objects.filter(patient=fracture).exists()


def test_start_with_clearance_in_force_is_allowed(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 10 * DAY, review_on=TODAY + 60 * DAY)
    start(fracture, therapist, at=NOW)
    started = Prescription.objects.get(patient=fracture)
    assert (started.side, started.stage, started.started_at) == ("left", stage(1), NOW)
    assert started.ended_at is None


def test_start_is_gated_on_the_day_of_the_start(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    with pytest.raises(ClearanceRequired):
        start(fracture, therapist, at=NOW - DAY)
    start(fracture, therapist, at=NOW)


def test_start_above_the_stage_allowed_is_refused(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - 10 * DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
    )
    with pytest.raises(ClearanceRequired) as excinfo:
        start(fracture, therapist, number=3, at=NOW)
    assert "not stage 3" in str(excinfo.value)
    assert not Prescription.objects.filter(patient=fracture).exists()


def test_advance_past_the_stage_allowed_is_refused_and_writes_nothing(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - 10 * DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
    )
    first = start(fracture, therapist, number=1, at=NOW - 2 * DAY)
    second = prescription_advance(prescription=first, by=therapist, at=NOW - DAY)
    with pytest.raises(ClearanceRequired) as excinfo:
        prescription_advance(prescription=second, by=therapist, at=NOW)
    assert "allows up to stage 2, not stage 3" in str(excinfo.value)
    second.refresh_from_db()
    assert second.is_active
    assert Prescription.objects.filter(patient=fracture).count() == 2
    assert StageChange.objects.filter(patient=fracture).count() == 2


def test_advance_after_the_clearance_lapsed_is_refused_and_writes_nothing(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    first = start(fracture, therapist, at=NOW - 10 * DAY)
    with pytest.raises(ClearanceRequired) as excinfo:
        prescription_advance(prescription=first, by=therapist, at=NOW)
    assert "lapsed" in str(excinfo.value)
    first.refresh_from_db()
    assert first.is_active
    assert Prescription.objects.filter(patient=fracture).count() == 1
    assert StageChange.objects.filter(patient=fracture).count() == 1


def test_regress_is_not_gated(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    second = start(fracture, therapist, number=2, at=NOW - 10 * DAY)
    first = prescription_regress(prescription=second, by=therapist, at=NOW)
    assert first.stage == stage(1)
    # ...but the regressed prescription is paused like any other until clearance is renewed.
    assert "lapsed" in pause_reason(first, TODAY)


def test_stop_is_not_gated(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    first = start(fracture, therapist, at=NOW - 10 * DAY)
    prescription_stop(prescription=first, by=therapist, at=NOW)
    first.refresh_from_db()
    assert not first.is_active


def test_a_prescription_is_paused_while_clearance_lapsed_and_resumes_when_renewed(
    fracture, therapist
):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    first = start(fracture, therapist, at=NOW - 10 * DAY)
    assert pause_reason(first, TODAY - 2 * DAY) is None
    assert "lapsed" in pause_reason(first, TODAY)
    record_clearance(fracture, by=therapist, signed_on=TODAY, review_on=TODAY + 60 * DAY)
    assert pause_reason(first, TODAY) is None


def test_a_patient_without_a_clearance_requirement_is_never_paused(patient, therapist):
    first = start(patient, therapist)
    assert pause_reason(first, TODAY) is None


# -- the ladder is data ----------------------------------------------------------------------


def _two_rung_ladder():
    ladder = Ladder.objects.create(slug="side-plank", name="Side plank", source="Boren 2011")
    common = {
        "ladder": ladder,
        "summary": "s",
        "position": "p",
        "movement": "m",
        "cues": "c",
        "bottom_hip_flexion_deg": 0,
        "top_hip_flexion_deg": 0,
        "gmed_mvic_percent": 100,
        "source": "Boren 2011",
    }
    return (
        Stage.objects.create(number=1, name="Short lever", **common),
        Stage.objects.create(number=2, name="Long lever", **common),
    )


def test_another_ladder_has_its_own_top(patient, therapist):
    low, high = _two_rung_ladder()
    first = prescription_start(patient=patient, side="left", stage=low, by=therapist, at=NOW - DAY)
    second = prescription_advance(prescription=first, by=therapist, at=NOW)
    assert second.stage == high
    with pytest.raises(InvalidTransition) as excinfo:
        prescription_advance(prescription=second, by=therapist, at=NOW)
    assert "top of the ladder" in str(excinfo.value)


def test_advancing_never_crosses_into_another_ladder(patient, therapist):
    _two_rung_ladder()
    third = start(patient, therapist, number=3)
    assert prescription_advance(prescription=third, by=therapist, at=NOW).stage == stage(4)


def test_the_therapists_notes_carry_over_and_the_reason_goes_on_the_stage_change(
    patient, therapist
):
    first = start(patient, therapist, notes="Keep a pillow between the knees.")
    second = prescription_advance(
        prescription=first, by=therapist, at=NOW - DAY, note="20 reps pain-free twice."
    )
    assert second.notes == "Keep a pillow between the knees."
    change = StageChange.objects.get(prescription=second)
    assert change.note == "20 reps pain-free twice."


def test_editing_a_stage_keeps_its_history(db):
    stage_1 = stage(1)
    stage_1.cues = stage_1.cues + " Breathe out as you lift."
    stage_1.save()
    assert stage_1.history.count() == 1
    assert "Breathe out" in stage_1.history.first().cues


def test_a_stale_copy_of_a_discharged_patient_cannot_be_started(patient, therapist):
    stale = Patient.objects.get(pk=patient.pk)
    patient_discharge(patient=Patient.objects.get(pk=patient.pk), by=therapist, at=NOW - DAY)
    with pytest.raises(InvalidTransition, match="discharged"):
        start(stale, therapist, at=NOW)
    assert not Prescription.objects.filter(patient=patient).exists()
