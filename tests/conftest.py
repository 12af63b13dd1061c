"""The cast every test module can use: two clinics, their care teams, two patients."""

import pytest
from django.core.cache import cache

from patients.models import Role
from tests.factories import (
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    reseed_ladder,
)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Sign-in and write throttles count in the cache: no test may inherit another's requests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clinic(db):
    return ClinicFactory(name="Riverside Physio", slug="riverside", timezone="Europe/London")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(name="Hillcrest Rehab", slug="hillcrest", timezone="America/Chicago")


@pytest.fixture
def therapist(clinic):
    return MembershipFactory(clinic=clinic, role=Role.THERAPIST, user__username="thera").user


@pytest.fixture
def colleague(clinic):
    return MembershipFactory(clinic=clinic, role=Role.THERAPIST, user__username="colleague").user


@pytest.fixture
def staff(clinic):
    return MembershipFactory(clinic=clinic, role=Role.STAFF, user__username="staffer").user


@pytest.fixture
def outsider(other_clinic):
    """A therapist of another clinic."""
    return MembershipFactory(
        clinic=other_clinic, role=Role.THERAPIST, user__username="outsider"
    ).user


@pytest.fixture
def patient(clinic, therapist):
    return PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name="Maya",
        last_name="Lindqvist",
        user=UserFactory(username="maya"),
    )


@pytest.fixture
def other_patient(clinic, therapist):
    return PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name="Omar",
        last_name="Haddad",
        user=UserFactory(username="omar"),
    )


@pytest.fixture
def patient_requiring_clearance(clinic, therapist):
    """Recovering from a pelvic fracture: may exercise only with the medical team's clearance."""
    return PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name="Ines",
        last_name="Duarte",
        requires_clearance=True,
        clearance_reason="pelvic fracture",
    )


@pytest.fixture
def fracture(patient_requiring_clearance):
    """The same patient under the short name the clearance tests use (no login: the API tests
    have `fracture_with_login` in tests/api/conftest.py)."""
    return patient_requiring_clearance


@pytest.fixture
def reseed_after_flush(django_db_blocker):
    """A transactional test ends by flushing every table, the migration's seed included. Requested
    before `transactional_db`, this tears down after that flush and puts the ladder back, so later
    transactional tests (in any file) still find it."""
    yield
    with django_db_blocker.unblock():
        reseed_ladder()
