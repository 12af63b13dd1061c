"""Readiness to progress (docs/domain.md, "Readiness"): a set on the current prescription with
reps at or above the threshold (the source article: 20) and pain at or below the ceiling
(pain-monitoring model: 3), and no set above the pain alert threshold at that stage since. Pain
stops progression: automatic advance waits while a pain alert is open, and "best at this stage"
counts only sets within the ceiling."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError

from exercises.models import PainOutcome, Prescription, Source
from exercises.progression import AlertKind, is_ready, patient_alerts, ready_since
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.models import Clinic
from tests.factories import stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def start(patient, by, *, side="left", number=1, at=NOW - 7 * DAY, **dose):
    return prescription_start(patient=patient, side=side, stage=stage(number), by=by, at=at, **dose)


def log(prescription, *, reps, pain, performed_at=NOW - HOUR):
    return set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=reps,
            pain=pain,
            performed_at=performed_at,
            client_id=uuid.uuid4(),
            by=prescription.patient.user,
            source=Source.APP,
        ),
        now=NOW,
    ).set_log


def ready_in_bulk(prescription) -> bool:
    return Prescription.objects.with_readiness().get(pk=prescription.pk).is_ready


@pytest.fixture
def prescription(patient, therapist):
    return start(patient, therapist)


def test_no_sets_is_not_ready(prescription):
    assert not is_ready(prescription)


def test_19_reps_is_not_ready(prescription):
    log(prescription, reps=19, pain=0)
    assert not is_ready(prescription)
    assert not ready_in_bulk(prescription)


def test_20_reps_is_ready(prescription):
    log(prescription, reps=20, pain=0)
    assert is_ready(prescription)
    assert ready_in_bulk(prescription)


def test_many_sets_of_19_reps_are_not_ready(prescription):
    for hours in range(1, 6):
        log(prescription, reps=19, pain=0, performed_at=NOW - hours * HOUR)
    assert not is_ready(prescription)


def test_20_reps_at_pain_4_is_not_ready(prescription):
    log(prescription, reps=20, pain=4)
    assert not is_ready(prescription)


def test_20_reps_at_pain_3_is_ready(prescription):
    log(prescription, reps=20, pain=3)
    assert is_ready(prescription)


def test_20_reps_at_pain_6_is_not_ready_and_raises_a_pain_alert(prescription):
    log(prescription, reps=20, pain=6)
    assert not is_ready(prescription)
    kinds = [a.kind for a in patient_alerts(prescription.patient, now=NOW)]
    assert AlertKind.PAIN in kinds
    assert AlertKind.READY not in kinds


def test_a_qualifying_set_among_others_is_enough(prescription):
    log(prescription, reps=12, pain=5, performed_at=NOW - 3 * HOUR)
    log(prescription, reps=22, pain=2, performed_at=NOW - 2 * HOUR)
    log(prescription, reps=8, pain=1, performed_at=NOW - HOUR)
    assert is_ready(prescription)


def test_the_prescriptions_own_threshold_of_15_reps_makes_15_ready(patient, therapist):
    prescription = start(patient, therapist, progress_at_reps=15)
    log(prescription, reps=14, pain=0)
    assert not is_ready(prescription)
    log(prescription, reps=15, pain=0)
    assert is_ready(prescription)


def test_a_clinic_threshold_of_25_reps_makes_20_not_ready(patient, therapist, clinic):
    Clinic.objects.filter(pk=clinic.pk).update(progress_at_reps=25)
    prescription = start(patient, therapist)
    log(prescription, reps=20, pain=0)
    assert not is_ready(prescription)
    log(prescription, reps=25, pain=0)
    assert is_ready(prescription)


def test_the_prescriptions_threshold_overrides_the_clinics(patient, therapist, clinic):
    Clinic.objects.filter(pk=clinic.pk).update(progress_at_reps=25)
    prescription = start(patient, therapist, progress_at_reps=18)
    log(prescription, reps=18, pain=0)
    assert is_ready(prescription)


def test_a_clinic_pain_ceiling_of_5_makes_pain_5_ready(patient, therapist, clinic):
    Clinic.objects.filter(pk=clinic.pk).update(pain_ceiling=5)
    prescription = start(patient, therapist)
    log(prescription, reps=20, pain=6, performed_at=NOW - 2 * HOUR)
    assert not is_ready(prescription)
    log(prescription, reps=20, pain=5, performed_at=NOW - HOUR)
    assert is_ready(prescription)


def test_the_prescriptions_pain_ceiling_overrides_the_clinics(patient, therapist, clinic):
    Clinic.objects.filter(pk=clinic.pk).update(pain_ceiling=5)
    prescription = start(patient, therapist, pain_ceiling=2)
    log(prescription, reps=20, pain=3)
    assert not is_ready(prescription)
    log(prescription, reps=20, pain=2)
    assert is_ready(prescription)


def test_a_prescription_pain_ceiling_of_0_is_not_replaced_by_the_clinics(patient, therapist):
    prescription = start(patient, therapist, pain_ceiling=0)
    log(prescription, reps=20, pain=1)
    assert not is_ready(prescription)
    assert prescription.effective_pain_ceiling == 0


@pytest.mark.parametrize(
    ("clinic_values", "own", "field"),
    [
        ({"pain_ceiling": 3, "pain_alert_above": 4}, {"pain_ceiling": 5}, "pain_ceiling"),
        ({"pain_ceiling": 3, "pain_alert_above": 5}, {"pain_alert_above": 2}, "pain_alert_above"),
    ],
)
def test_a_side_asking_for_a_ceiling_above_the_alert_in_force_is_refused(
    patient, therapist, clinic, clinic_values, own, field
):
    """Asked for at the start, a ceiling above the alert threshold (its own, or the clinic's
    where it sets none) is refused naming the field, not quietly capped."""
    Clinic.objects.filter(pk=clinic.pk).update(**clinic_values)
    patient.clinic.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        start(patient, therapist, **own)
    assert "cannot be above the pain alert threshold" in excinfo.value.message_dict[field][0]
    assert not Prescription.objects.exists()


def test_a_side_ceiling_above_a_later_lowered_clinic_alert_counts_as_the_alert(
    patient, therapist, clinic
):
    """A side's own ceiling of 4 was fine under the clinic's alert of 5; once the clinic alerts
    above 3, a score of 4 rings an alert and must not also make the side ready."""
    prescription = start(patient, therapist, pain_ceiling=4)
    Clinic.objects.filter(pk=clinic.pk).update(pain_ceiling=3, pain_alert_above=3)
    prescription = Prescription.objects.get(pk=prescription.pk)
    log(prescription, reps=20, pain=4)
    assert not is_ready(prescription)
    assert not ready_in_bulk(prescription)
    assert prescription.effective_pain_ceiling == 3
    annotated = Prescription.objects.with_thresholds().get(pk=prescription.pk)
    assert (annotated.pain_threshold, annotated.alert_threshold) == (3, 3)
    best = Prescription.objects.with_best_reps().get(pk=prescription.pk)
    assert best.best_reps is None


def test_the_effective_thresholds_fall_back_to_the_clinics(patient, therapist, clinic):
    prescription = start(patient, therapist)
    assert (prescription.effective_progress_at_reps, prescription.effective_pain_ceiling) == (20, 3)
    annotated = Prescription.objects.with_thresholds().get(pk=prescription.pk)
    assert (annotated.reps_threshold, annotated.pain_threshold) == (20, 3)


def test_another_clinics_thresholds_do_not_apply(patient, therapist, other_clinic):
    Clinic.objects.filter(pk=other_clinic.pk).update(
        progress_at_reps=10, pain_ceiling=9, pain_alert_above=9
    )
    prescription = start(patient, therapist)
    log(prescription, reps=15, pain=5)
    assert not is_ready(prescription)


def test_a_set_on_the_earlier_prescription_of_the_same_side_does_not_count(prescription, therapist):
    log(prescription, reps=25, pain=0, performed_at=NOW - 2 * DAY)
    assert is_ready(prescription)
    second = prescription_advance(prescription=prescription, by=therapist, at=NOW - DAY)
    assert not is_ready(second)
    assert not ready_in_bulk(second)


def test_a_set_on_the_other_side_does_not_count(patient, therapist, prescription):
    right = start(patient, therapist, side="right")
    log(right, reps=25, pain=0)
    assert is_ready(right)
    assert not is_ready(prescription)


def test_another_patients_set_does_not_count(prescription, other_patient, therapist):
    theirs = start(other_patient, therapist)
    log(theirs, reps=25, pain=0)
    assert not is_ready(prescription)


def test_voided_sets_do_not_count(prescription, therapist):
    qualifying = log(prescription, reps=20, pain=0)
    set_void(set_log=qualifying, by=therapist, reason="Entered 20 instead of 12", at=NOW)
    assert not is_ready(prescription)
    assert not ready_in_bulk(prescription)


def test_readiness_is_annotated_for_many_prescriptions_in_one_query(
    patient, other_patient, therapist, django_assert_num_queries
):
    mine = start(patient, therapist)
    theirs = start(other_patient, therapist)
    log(mine, reps=20, pain=0)
    with django_assert_num_queries(1):
        readiness = dict(
            Prescription.objects.with_readiness()
            .filter(pk__in=[mine.pk, theirs.pk])
            .values_list("pk", "is_ready")
        )
    assert readiness == {mine.pk: True, theirs.pk: False}


# -- pain stops progression -----------------------------------------------------------------------


def best_reps(prescription) -> int | None:
    return Prescription.objects.with_best_reps().get(pk=prescription.pk).best_reps


def test_a_painful_set_after_a_ready_one_withdraws_readiness(prescription):
    log(prescription, reps=20, pain=0, performed_at=NOW - 3 * HOUR)
    assert is_ready(prescription)
    log(prescription, reps=8, pain=7, performed_at=NOW - 2 * HOUR)
    assert not is_ready(prescription)
    assert not ready_in_bulk(prescription)
    log(prescription, reps=21, pain=1, performed_at=NOW - HOUR)
    assert is_ready(prescription)


def test_a_painful_set_at_the_same_moment_counts_as_after(prescription):
    log(prescription, reps=20, pain=0, performed_at=NOW - HOUR)
    log(prescription, reps=5, pain=8, performed_at=NOW - HOUR)
    assert not is_ready(prescription)


def test_pain_within_the_alert_threshold_does_not_withdraw_readiness(prescription):
    log(prescription, reps=20, pain=0, performed_at=NOW - 2 * HOUR)
    log(prescription, reps=10, pain=5, performed_at=NOW - HOUR)
    assert is_ready(prescription)


def test_a_painful_set_before_the_ready_one_does_not_withdraw_it(prescription):
    log(prescription, reps=8, pain=9, performed_at=NOW - 2 * HOUR)
    log(prescription, reps=20, pain=0, performed_at=NOW - HOUR)
    assert is_ready(prescription)


def test_a_voided_painful_set_does_not_withdraw_readiness(prescription, therapist):
    log(prescription, reps=20, pain=0, performed_at=NOW - 2 * HOUR)
    painful = log(prescription, reps=8, pain=9, performed_at=NOW - HOUR)
    set_void(set_log=painful, by=therapist, reason="Typed 9 for 0", at=NOW)
    assert is_ready(prescription)


def test_ready_since_is_the_first_qualifying_set_after_the_last_painful_one(prescription):
    log(prescription, reps=20, pain=0, performed_at=NOW - 5 * HOUR)
    log(prescription, reps=8, pain=7, performed_at=NOW - 4 * HOUR)
    log(prescription, reps=21, pain=1, performed_at=NOW - 3 * HOUR)
    log(prescription, reps=22, pain=1, performed_at=NOW - 2 * HOUR)
    annotated = Prescription.objects.with_readiness().get(pk=prescription.pk)
    assert ready_since([annotated]) == {prescription.pk: NOW - 3 * HOUR}


def test_best_at_this_stage_counts_only_sets_within_the_pain_ceiling(prescription):
    log(prescription, reps=24, pain=7, performed_at=NOW - 3 * HOUR)
    log(prescription, reps=15, pain=3, performed_at=NOW - 2 * HOUR)
    log(prescription, reps=18, pain=4, performed_at=NOW - HOUR)
    assert best_reps(prescription) == 15


def test_best_at_this_stage_follows_the_prescriptions_ceiling(patient, therapist):
    prescription = start(patient, therapist, pain_ceiling=4)
    log(prescription, reps=18, pain=4)
    assert best_reps(prescription) == 18


def test_9_of_10_then_20_reps_at_0_a_second_later_does_not_advance_automatically(
    patient, therapist
):
    """The reported sequence: the patient logs 9/10, then 20 reps at 0/10 a second later. The
    side is ready again (the 20 came after the pain), but the pain alert is open: no automatic
    advance, and the dashboard still shows the alert, after a manual advance too."""
    prescription = start(patient, therapist, auto_advance=True)
    log(prescription, reps=6, pain=9, performed_at=NOW - HOUR)
    log(prescription, reps=20, pain=0, performed_at=NOW - HOUR + dt.timedelta(seconds=1))
    current = Prescription.objects.active().get(patient=patient, side="left")
    assert current.pk == prescription.pk and current.stage.number == 1
    kinds = [a.kind for a in patient_alerts(patient, now=NOW)]
    assert AlertKind.PAIN in kinds and AlertKind.READY in kinds

    advanced = prescription_advance(prescription=prescription, by=therapist, at=NOW)
    assert advanced.stage.number == 2
    [pain] = [a for a in patient_alerts(patient, now=NOW) if a.kind == AlertKind.PAIN]
    assert "Pain 9/10 on the left side at stage 1" in pain.message


def test_automatic_advance_resumes_once_the_alert_is_reviewed(patient, therapist):
    prescription = start(patient, therapist, auto_advance=True)
    log(prescription, reps=6, pain=9, performed_at=NOW - 3 * HOUR)
    pain_review_record(
        patient=patient,
        side="left",
        outcome=PainOutcome.CONTINUED,
        by=therapist,
        at=NOW,  # the sets here reach the server at NOW
    )
    log(prescription, reps=20, pain=0, performed_at=NOW - HOUR)
    assert Prescription.objects.active().get(patient=patient, side="left").stage.number == 2


def test_automatic_advance_waits_for_a_pain_alert_on_that_side_only(patient, therapist):
    left = start(patient, therapist, side="left", auto_advance=True)
    right = start(patient, therapist, side="right")
    log(right, reps=6, pain=9, performed_at=NOW - 2 * HOUR)
    log(left, reps=20, pain=0, performed_at=NOW - HOUR)
    assert Prescription.objects.active().get(patient=patient, side="left").stage.number == 2
