"""The network generator at its tiny size: the shape the benchmarks rely on, written in bulk."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, F, Q

from clinic.bench.generate import PASSWORD, SIZES, clinic_sizes, generate_network
from exercises.models import ChangeReason, Prescription, SetLog, StageChange
from patients.models import Clinic, Patient, Role


@pytest.fixture
def network(db):
    now = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
    return now, generate_network(SIZES["tiny"], now=now)


def test_clinic_sizes_are_skewed_and_add_up():
    sizes = clinic_sizes(20_000, 50, 0.8)
    assert sum(sizes) == 20_000 and len(sizes) == 50
    assert sizes[0] > 1.5 * sizes[1] and sizes[0] > 15 * sizes[-1]
    assert min(sizes) >= 10


def test_it_writes_what_it_counts(network):
    _, counts = network
    assert counts.patients == Patient.objects.count() == SIZES["tiny"].patients
    assert counts.sets == SetLog.objects.count() > 1000
    assert counts.prescriptions == Prescription.objects.count()
    assert counts.stage_changes == StageChange.objects.count()
    assert counts.clinics == Clinic.objects.count() == SIZES["tiny"].clinics


def test_every_patient_has_a_login_that_signs_in(network):
    assert not Patient.objects.filter(user__isnull=True).exists()
    user = Patient.objects.order_by("pk").first().user
    assert user.check_password(PASSWORD)
    staff = get_user_model().objects.get(memberships__role=Role.STAFF, memberships__clinic__pk=1)
    assert staff.check_password(PASSWORD)


def test_sets_belong_to_the_prescription_active_when_performed(network):
    now, _ = network
    sets = SetLog.objects.all()
    assert not sets.exclude(stage=F("prescription__stage")).exists()
    assert not sets.exclude(side=F("prescription__side")).exists()
    assert not sets.filter(performed_at__lt=F("prescription__started_at")).exists()
    assert not sets.filter(performed_at__gte=F("prescription__ended_at")).exists()
    assert not sets.filter(performed_at__gt=now).exists()
    assert not sets.filter(patient__discharged_at__lte=F("performed_at")).exists()
    # Datetimes written in bulk read back through the ORM (range filters compare them).
    assert sets.filter(performed_at__lte=now).count() == sets.count()


def test_the_network_has_the_shape_the_reports_need(network):
    assert Patient.objects.filter(discharged_at__isnull=False).exists()
    assert Patient.objects.filter(discharged_at__isnull=True).exists()
    active_stages = set(
        Prescription.objects.active().values_list("stage__number", flat=True).distinct()
    )
    assert len(active_stages) >= 3
    assert set(Prescription.objects.values_list("side", flat=True)) == {"left", "right"}
    reasons = set(StageChange.objects.values_list("reason", flat=True))
    assert {ChangeReason.START, ChangeReason.PROGRESSED, ChangeReason.STOPPED} <= reasons
    assert SetLog.objects.filter(pain__gt=5).exists()
    assert SetLog.objects.filter(voided_at__isnull=False).exists()
    # Every start, progress and regress opened the prescription it names.
    assert not StageChange.objects.filter(
        ~Q(reason=ChangeReason.STOPPED), ~Q(at=F("prescription__started_at"))
    ).exists()
    # Sizes skewed: the largest clinic holds the most patients.
    sizes = list(Clinic.objects.annotate(n=Count("patients")).values_list("n", flat=True))
    assert max(sizes) > min(sizes)


def test_the_command_refuses_a_database_that_already_holds_a_network(network):
    with pytest.raises(CommandError, match="already holds a generated network"):
        call_command("generate_network", size="tiny", verbosity=0)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="an SQLite setting")
def test_it_gives_the_connection_back_with_its_sync_setting(transactional_db):
    # Generation turns syncing off for speed; the same connection then times the pages, which
    # must run as the app does.
    def synchronous():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous")
            return cursor.fetchone()[0]

    before = synchronous()
    assert before != 0
    generate_network(SIZES["tiny"])
    assert synchronous() == before
