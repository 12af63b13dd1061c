"""Integrity the database itself keeps, whatever code (admin, importer, shell) writes the row."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from patients.models import Clinic, Decision, Patient
from tests.factories import ClearanceNoteFactory, ClinicFactory, PatientFactory


def test_a_record_number_is_unique_within_a_clinic(clinic):
    PatientFactory(clinic=clinic, record_number="MRN-1")
    with transaction.atomic(), pytest.raises(IntegrityError):
        PatientFactory(clinic=clinic, record_number="MRN-1")


def test_the_same_record_number_in_two_clinics_is_fine(clinic, other_clinic):
    PatientFactory(clinic=clinic, record_number="MRN-1")
    PatientFactory(clinic=other_clinic, record_number="MRN-1")
    stored = Patient.objects.filter(record_number="MRN-1")
    assert set(stored.values_list("clinic", flat=True)) == {clinic.pk, other_clinic.pk}


def test_an_empty_record_number_is_refused(clinic):
    with transaction.atomic(), pytest.raises(IntegrityError):
        PatientFactory(clinic=clinic, record_number="")


def test_requiring_clearance_without_a_reason_is_refused(clinic):
    with transaction.atomic(), pytest.raises(IntegrityError):
        PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="")


def test_requiring_clearance_with_a_reason_is_accepted(clinic):
    p = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="pelvic fracture")
    p.refresh_from_db()
    assert (p.requires_clearance, p.clearance_reason) == (True, "pelvic fracture")


def test_removing_the_reason_from_a_patient_requiring_clearance_is_refused(clinic):
    p = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="pelvic fracture")
    with transaction.atomic(), pytest.raises(IntegrityError):
        type(p).objects.filter(pk=p.pk).update(clearance_reason="")


def test_a_clearance_review_date_before_the_date_signed_is_refused(db):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClearanceNoteFactory(signed_on=dt.date(2026, 1, 10), review_on=dt.date(2026, 1, 9))


def test_a_clearance_reviewed_on_the_day_it_was_signed_is_accepted(db):
    note = ClearanceNoteFactory(signed_on=dt.date(2026, 1, 10), review_on=dt.date(2026, 1, 10))
    note.refresh_from_db()
    assert note.signed_on == note.review_on == dt.date(2026, 1, 10)


def test_a_clearance_decision_outside_the_choices_is_refused(db):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClearanceNoteFactory(decision="maybe")


def test_a_not_cleared_decision_is_accepted_by_the_database(db):
    note = ClearanceNoteFactory(decision=Decision.NOT_CLEARED)
    note.refresh_from_db()
    assert note.decision == Decision.NOT_CLEARED


def test_a_clearance_max_stage_of_0_is_refused(db):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClearanceNoteFactory(decision=Decision.RESTRICTED, max_stage=0)


@pytest.mark.parametrize("ceiling", [11, 99])
def test_a_clinic_pain_ceiling_above_10_is_refused(clinic, ceiling):
    with transaction.atomic(), pytest.raises(IntegrityError):
        Clinic.objects.filter(pk=clinic.pk).update(pain_ceiling=ceiling)


def test_a_clinic_pain_ceiling_below_0_is_refused(clinic):
    with transaction.atomic(), pytest.raises(IntegrityError):
        Clinic.objects.filter(pk=clinic.pk).update(pain_ceiling=-1)


@pytest.mark.parametrize("ceiling", [0, 9])
def test_a_clinic_pain_ceiling_from_0_up_to_the_alert_threshold_is_accepted(db, ceiling):
    clinic = ClinicFactory(pain_ceiling=ceiling, pain_alert_above=9)
    clinic.refresh_from_db()
    assert (clinic.pain_ceiling, clinic.pain_alert_above) == (ceiling, 9)


def test_a_clinic_pain_ceiling_above_its_alert_threshold_is_refused(db):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClinicFactory(pain_ceiling=5, pain_alert_above=4)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pain_alert_above", 10),
        ("pain_lookback_days", 0),
        ("pain_lookback_days", 31),
        ("silent_days", 0),
        ("silent_days", 61),
        ("review_soon_days", 61),
    ],
)
def test_a_clinic_threshold_out_of_range_is_refused_by_the_database(db, field, value):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClinicFactory(**{field: value})


def test_a_prescription_pain_ceiling_above_its_alert_threshold_is_refused(db):
    from tests.factories import PrescriptionFactory

    with transaction.atomic(), pytest.raises(IntegrityError):
        PrescriptionFactory(pain_ceiling=6, pain_alert_above=5)


@pytest.mark.parametrize("reps", [0, 101])
def test_a_clinic_progress_at_reps_outside_1_to_100_is_refused(db, reps):
    with transaction.atomic(), pytest.raises(IntegrityError):
        ClinicFactory(progress_at_reps=reps)


@pytest.mark.parametrize("reps", [1, 100])
def test_a_clinic_progress_at_reps_from_1_to_100_is_accepted(db, reps):
    clinic = ClinicFactory(progress_at_reps=reps)
    clinic.refresh_from_db()
    assert clinic.progress_at_reps == reps


def test_an_unknown_clinic_time_zone_fails_validation_on_the_field(db):
    clinic = Clinic(name="Atlantis", slug="atlantis", timezone="Atlantis/Central")
    with pytest.raises(ValidationError) as excinfo:
        clinic.full_clean()
    assert "timezone" in excinfo.value.message_dict
    assert "Atlantis/Central is not a known time zone" in excinfo.value.message_dict["timezone"][0]


def test_an_iana_clinic_time_zone_passes_validation(db):
    Clinic(name="Chicago", slug="chicago", timezone="America/Chicago").full_clean()


def test_a_clinic_pain_ceiling_above_10_fails_validation_on_the_field(db):
    clinic = Clinic(name="X", slug="x", pain_ceiling=11)
    with pytest.raises(ValidationError) as excinfo:
        clinic.full_clean()
    assert "pain_ceiling" in excinfo.value.message_dict
