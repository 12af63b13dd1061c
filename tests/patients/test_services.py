"""Writes for patients: creating one, giving one a login."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.models import Patient
from patients.services import patient_create, patient_login_create


def create(clinic, *, by=None, **overrides):
    fields = {
        "clinic": clinic,
        "record_number": " MRN-77 ",
        "first_name": " Ana ",
        "last_name": "Silva",
        "date_of_birth": dt.date(1961, 2, 3),
        "affected_side": "right",
        **overrides,
    }
    return patient_create(by=by, **fields)


def test_a_patient_is_created_with_trimmed_names(clinic, therapist):
    patient = create(clinic, primary_therapist=therapist, by=therapist)
    patient.refresh_from_db()
    assert (patient.record_number, patient.first_name) == ("MRN-77", "Ana")
    assert patient.primary_therapist == therapist
    assert patient.is_active


def test_the_primary_therapist_must_be_a_therapist_of_the_clinic(clinic, outsider, staff):
    for user in (outsider, staff):
        with pytest.raises(ValidationError) as excinfo:
            create(clinic, primary_therapist=user)
        assert "primary_therapist" in excinfo.value.message_dict
    assert not Patient.objects.exists()


def test_requiring_clearance_needs_a_reason(clinic):
    with pytest.raises(ValidationError) as excinfo:
        create(clinic, requires_clearance=True, clearance_reason="  ")
    assert "Give the reason clearance is required." in str(excinfo.value)
    assert not Patient.objects.exists()


def test_a_duplicate_record_number_in_the_clinic_is_refused_by_validation(clinic, other_clinic):
    create(clinic)
    with pytest.raises(ValidationError):
        create(clinic, first_name="Someone else")
    create(other_clinic)
    assert Patient.objects.count() == 2


def test_a_date_of_birth_in_the_future_is_refused(clinic):
    with pytest.raises(ValidationError) as excinfo:
        create(clinic, date_of_birth=dt.date.today() + dt.timedelta(days=1))
    assert "date_of_birth" in excinfo.value.message_dict


def test_an_affected_side_outside_the_choices_is_refused(clinic):
    with pytest.raises(ValidationError) as excinfo:
        create(clinic, affected_side="middle")
    assert "affected_side" in excinfo.value.message_dict


def test_a_patient_gets_one_login_only(patient, therapist):
    with pytest.raises(ValidationError) as excinfo:
        patient_login_create(patient=patient, username="maya2", password="x" * 12, by=therapist)
    assert "username" in excinfo.value.message_dict


def test_a_login_without_a_password_cannot_sign_in_until_invited(clinic, therapist):
    patient = create(clinic)
    user = patient_login_create(patient=patient, username=" ana ", password=None, by=therapist)
    assert user.username == "ana"
    assert not user.has_usable_password()
    patient.refresh_from_db()
    assert patient.user == user


def test_a_weak_initial_password_is_refused_naming_the_field(clinic, therapist):
    patient = create(clinic)
    with pytest.raises(ValidationError) as excinfo:
        patient_login_create(patient=patient, username="ana", password="12345", by=therapist)
    assert "password" in excinfo.value.message_dict
    patient.refresh_from_db()
    assert patient.user is None


def test_a_strong_initial_password_signs_in(clinic, therapist):
    patient = create(clinic)
    user = patient_login_create(
        patient=patient, username="ana", password="clamshell-ladder-42", by=therapist
    )
    assert user.check_password("clamshell-ladder-42")


def test_the_history_author_does_not_stick_to_the_object(clinic, therapist, colleague):
    patient = create(clinic, by=therapist)
    assert not hasattr(patient, "_history_user")
    patient.first_name = "Anna"
    patient.save()  # outside any service or request: no author is known
    assert patient.history.first().history_user is None


def test_a_patients_login_carries_their_name(clinic, therapist):
    patient = create(clinic)
    user = patient_login_create(patient=patient, username="ana", password=None, by=therapist)
    assert user.get_full_name() == "Ana Silva"
