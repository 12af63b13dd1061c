"""The cast of the API tests, signed in with real tokens, and patients with a plan to log against."""

import pytest
from rest_framework.test import APIClient

from tests.api.helpers import client_for, start
from tests.factories import PatientFactory, UserFactory


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def patient_client(patient):
    return client_for(patient.user)


@pytest.fixture
def other_patient_client(other_patient):
    return client_for(other_patient.user)


@pytest.fixture
def therapist_client(therapist):
    return client_for(therapist)


@pytest.fixture
def staff_client(staff):
    return client_for(staff)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)


@pytest.fixture
def prescription(patient, therapist):
    """The patient's left side at stage 1, started three days ago."""
    return start(patient, therapist)


@pytest.fixture
def other_prescription(other_patient, therapist):
    return start(other_patient, therapist)


@pytest.fixture
def fracture_with_login(clinic, therapist):
    """The root conftest's `fracture` (Ines, recovering from a pelvic fracture) with a login of her
    own, which the API needs: she signs in with a token. A fixture of its own rather than a login on
    `fracture`, which the clearance, gate and page tests use without one."""
    return PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name="Ines",
        last_name="Duarte",
        requires_clearance=True,
        clearance_reason="pelvic fracture",
        user=UserFactory(username="ines"),
    )


@pytest.fixture
def chicago_patient(other_clinic, outsider):
    """A patient of the clinic in America/Chicago: their days are Chicago days."""
    return PatientFactory(
        clinic=other_clinic,
        primary_therapist=outsider,
        first_name="Lena",
        last_name="Brooks",
        user=UserFactory(username="lena"),
    )
