"""Integrity the database itself keeps for prescriptions, stage changes and set logs.

Every write here bypasses the services and model validation on purpose (factories call
`objects.create`, or `QuerySet.update`), so only the database's constraints stand in the way.
"""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from exercises.models import ChangeReason, Prescription, SetLog, StageChange
from tests.factories import (
    PrescriptionFactory,
    SetLogFactory,
    UserFactory,
    stage,
)

# -- set logs: ranges -------------------------------------------------------------------------


@pytest.mark.parametrize("reps", [0, 101])
def test_reps_outside_1_to_100_are_refused(patient, reps):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription__patient=patient, reps=reps)


@pytest.mark.parametrize("reps", [1, 100])
def test_reps_from_1_to_100_are_accepted(patient, reps):
    row = SetLogFactory(prescription__patient=patient, reps=reps)
    row.refresh_from_db()
    assert row.reps == reps


def test_pain_11_is_refused(patient):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription__patient=patient, pain=11)


def test_pain_minus_1_is_refused(patient):
    set_log = SetLogFactory(prescription__patient=patient, pain=0)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLog.objects.filter(pk=set_log.pk).update(pain=-1)


@pytest.mark.parametrize("pain", [0, 10])
def test_pain_from_0_to_10_is_accepted(patient, pain):
    row = SetLogFactory(prescription__patient=patient, pain=pain)
    row.refresh_from_db()
    assert row.pain == pain


def test_effort_11_is_refused(patient):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription__patient=patient, effort=11)


@pytest.mark.parametrize("effort", [None, 0, 10])
def test_effort_empty_or_from_0_to_10_is_accepted(patient, effort):
    row = SetLogFactory(prescription__patient=patient, effort=effort)
    row.refresh_from_db()
    assert row.effort == effort


def test_a_set_source_outside_the_choices_is_refused(patient):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription__patient=patient, source="fax")


def test_a_set_side_outside_the_choices_is_refused(patient):
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription__patient=patient, side="front")


# -- set logs: the idempotency key ----------------------------------------------------------


def test_a_client_id_is_unique_per_patient(patient):
    key = uuid.uuid4()
    prescription = PrescriptionFactory(patient=patient)
    SetLogFactory(prescription=prescription, client_id=key)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLogFactory(prescription=prescription, client_id=key, reps=12)


def test_the_same_client_id_for_two_patients_is_fine(patient, other_patient):
    key = uuid.uuid4()
    SetLogFactory(prescription__patient=patient, client_id=key)
    SetLogFactory(prescription__patient=other_patient, client_id=key)
    assert SetLog.objects.filter(client_id=key).count() == 2


# -- set logs: voiding is all or nothing ----------------------------------------------------


def test_a_void_without_who_and_why_is_refused(patient):
    set_log = SetLogFactory(prescription__patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLog.objects.filter(pk=set_log.pk).update(voided_at=timezone.now())


def test_a_void_without_a_reason_is_refused(patient, therapist):
    set_log = SetLogFactory(prescription__patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLog.objects.filter(pk=set_log.pk).update(voided_at=timezone.now(), voided_by=therapist)


def test_a_void_reason_without_a_void_is_refused(patient):
    set_log = SetLogFactory(prescription__patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLog.objects.filter(pk=set_log.pk).update(void_reason="Logged twice")


def test_a_voided_by_without_a_void_time_is_refused(patient, therapist):
    set_log = SetLogFactory(prescription__patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        SetLog.objects.filter(pk=set_log.pk).update(voided_by=therapist, void_reason="Twice")


def test_a_complete_void_is_accepted(patient, therapist):
    set_log = SetLogFactory(prescription__patient=patient)
    voided_at = timezone.now()
    SetLog.objects.filter(pk=set_log.pk).update(
        voided_at=voided_at, voided_by=therapist, void_reason="Logged twice"
    )
    set_log.refresh_from_db()
    assert set_log.voided_at == voided_at
    assert (set_log.voided_by, set_log.void_reason) == (therapist, "Logged twice")


# -- set logs: model validation names the field ---------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("reps", 0), ("reps", 101), ("pain", 11)])
def test_model_validation_names_the_field_out_of_range(patient, field, value):
    set_log = SetLogFactory.build(
        prescription=PrescriptionFactory(patient=patient), logged_by=UserFactory(), **{field: value}
    )
    with pytest.raises(ValidationError) as excinfo:
        set_log.full_clean()
    assert set(excinfo.value.message_dict) == {field}


def test_model_validation_names_negative_pain(patient):
    set_log = SetLogFactory.build(
        prescription=PrescriptionFactory(patient=patient), logged_by=UserFactory(), pain=-1
    )
    with pytest.raises(ValidationError) as excinfo:
        set_log.full_clean()
    assert set(excinfo.value.message_dict) == {"pain"}


# -- prescriptions ---------------------------------------------------------------------------


def test_a_second_active_prescription_on_the_same_side_is_refused(patient):
    PrescriptionFactory(patient=patient, side="left")
    with transaction.atomic(), pytest.raises(IntegrityError):
        PrescriptionFactory(patient=patient, side="left", stage=stage(2))


def test_an_ended_and_an_active_prescription_on_the_same_side_are_fine(patient):
    started = timezone.now() - dt.timedelta(days=14)
    PrescriptionFactory(
        patient=patient, side="left", started_at=started, ended_at=started + dt.timedelta(days=7)
    )
    PrescriptionFactory(patient=patient, side="left", stage=stage(2))
    assert Prescription.objects.filter(patient=patient, side="left").count() == 2


def test_reopening_an_ended_prescription_beside_the_active_one_is_refused(patient):
    started = timezone.now() - dt.timedelta(days=14)
    ended = PrescriptionFactory(
        patient=patient, side="left", started_at=started, ended_at=started + dt.timedelta(days=7)
    )
    PrescriptionFactory(patient=patient, side="left", stage=stage(2))
    with transaction.atomic(), pytest.raises(IntegrityError):
        Prescription.objects.filter(pk=ended.pk).update(ended_at=None)


def test_left_and_right_both_active_are_fine(patient):
    PrescriptionFactory(patient=patient, side="left")
    PrescriptionFactory(patient=patient, side="right", stage=stage(3))
    assert Prescription.objects.active().filter(patient=patient).count() == 2


def test_two_patients_each_with_an_active_left_side_are_fine(patient, other_patient):
    PrescriptionFactory(patient=patient, side="left")
    PrescriptionFactory(patient=other_patient, side="left")
    active = Prescription.objects.active().filter(side="left")
    assert set(active.values_list("patient", flat=True)) == {patient.pk, other_patient.pk}


def test_a_prescription_ending_before_it_started_is_refused(patient):
    started = timezone.now() - dt.timedelta(days=3)
    with transaction.atomic(), pytest.raises(IntegrityError):
        PrescriptionFactory(
            patient=patient, started_at=started, ended_at=started - dt.timedelta(seconds=1)
        )


def test_a_prescription_ending_the_moment_it_started_is_accepted(patient):
    started = timezone.now() - dt.timedelta(days=3)
    prescription = PrescriptionFactory(patient=patient, started_at=started, ended_at=started)
    prescription.refresh_from_db()
    assert prescription.started_at == prescription.ended_at == started


def test_a_prescription_side_outside_the_choices_is_refused(patient):
    with transaction.atomic(), pytest.raises(IntegrityError):
        PrescriptionFactory(patient=patient, side="both")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_sets", 0),
        ("target_sets", 11),
        ("target_reps", 0),
        ("target_reps", 101),
        ("hold_at_top_seconds", 11),
        ("sessions_per_week", 0),
        ("sessions_per_week", 15),
        ("progress_at_reps", 0),
        ("progress_at_reps", 101),
        ("pain_ceiling", 11),
    ],
)
def test_a_prescription_dose_out_of_range_is_refused(patient, field, value):
    with transaction.atomic(), pytest.raises(IntegrityError):
        PrescriptionFactory(patient=patient, **{field: value})


# -- stage changes ---------------------------------------------------------------------------


def _change(prescription, reason, from_stage, to_stage):
    return StageChange.objects.create(
        patient=prescription.patient,
        side=prescription.side,
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        prescription=prescription,
        by=prescription.prescribed_by,
        at=prescription.started_at,
    )


def test_a_start_with_a_from_stage_is_refused(patient):
    prescription = PrescriptionFactory(patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        _change(prescription, ChangeReason.START, stage(1), stage(2))


def test_a_start_without_a_to_stage_is_refused(patient):
    prescription = PrescriptionFactory(patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        _change(prescription, ChangeReason.START, None, None)


def test_a_stop_with_a_to_stage_is_refused(patient):
    prescription = PrescriptionFactory(patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        _change(prescription, ChangeReason.STOPPED, stage(1), stage(2))


@pytest.mark.parametrize("reason", [ChangeReason.PROGRESSED, ChangeReason.REGRESSED])
def test_a_step_without_both_stages_is_refused(patient, reason):
    prescription = PrescriptionFactory(patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        _change(prescription, reason, None, stage(2))


def test_a_stage_change_reason_outside_the_choices_is_refused(patient):
    prescription = PrescriptionFactory(patient=patient)
    with transaction.atomic(), pytest.raises(IntegrityError):
        _change(prescription, "skipped", stage(1), stage(3))


def test_well_shaped_stage_changes_are_accepted(patient):
    prescription = PrescriptionFactory(patient=patient)
    _change(prescription, ChangeReason.START, None, stage(1))
    _change(prescription, ChangeReason.PROGRESSED, stage(1), stage(2))
    _change(prescription, ChangeReason.REGRESSED, stage(2), stage(1))
    _change(prescription, ChangeReason.STOPPED, stage(1), None)
    assert StageChange.objects.filter(patient=patient).count() == 4
    stored = StageChange.objects.filter(patient=patient).order_by("pk")
    assert list(stored.values_list("reason", "from_stage", "to_stage")) == [
        (ChangeReason.START, None, stage(1).pk),
        (ChangeReason.PROGRESSED, stage(1).pk, stage(2).pk),
        (ChangeReason.REGRESSED, stage(2).pk, stage(1).pk),
        (ChangeReason.STOPPED, stage(1).pk, None),
    ]
