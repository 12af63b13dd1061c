"""The network generator at its tiny size: the shape the benchmarks rely on, written in bulk."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q

from clinic.bench.generate import PASSWORD, SIZES, clinic_sizes, generate_network
from exercises.models import (
    ChangeReason,
    PainOutcome,
    PainReview,
    Prescription,
    SetLog,
    StageChange,
)
from exercises.progression import open_pain_alerts
from patients.clearance import clearance_problem, note_in_effect
from patients.models import ClearanceNote, Clinic, Decision, Patient, Role


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
    assert counts.clearance_notes == ClearanceNote.objects.count()
    assert counts.pain_reviews == PainReview.objects.count() > 0


def test_every_row_written_in_bulk_is_valid_for_its_model(network):
    # COPY and executemany skip the model: every column the model requires is written (or has a
    # database default), and each row passes the model's own validation.
    for model in (Clinic, Patient, ClearanceNote, Prescription, StageChange, PainReview):
        for row in model.objects.all():
            row.full_clean()
    # The clinics do not all keep the default thresholds, nor do all sides.
    assert Clinic.objects.values("pain_alert_above", "pain_lookback_days").distinct().count() > 1
    assert Prescription.objects.filter(
        Q(progress_at_reps__isnull=False) | Q(pain_alert_above__isnull=False)
    ).exists()


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
def test_it_gives_the_connection_back_with_its_sync_setting(reseed_after_flush, transactional_db):
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


def test_each_pain_review_closes_the_alert_open_when_it_was_written(network):
    # As `exercises.services.pain_review_record` would have written it: an alert was open (a
    # valid painful set that reached the clinic after the side's previous review, done within
    # the look-back), and the review keeps its highest pain and its number of sets.
    for review in PainReview.objects.select_related("patient__clinic"):
        earlier = PainReview.objects.filter(
            patient=review.patient, side=review.side, at__lt=review.at
        ).aggregate(at=Max("at"))["at"]
        lookback = dt.timedelta(days=review.patient.clinic.pain_lookback_days)
        seen = (
            SetLog.objects.painful()
            .filter(patient=review.patient, side=review.side, logged_at__lte=review.at)
            .filter(Q(voided_at__isnull=True) | Q(voided_at__gt=review.at))
            .filter(performed_at__gte=F("logged_at") - lookback)
        )
        if earlier is not None:
            seen = seen.filter(logged_at__gt=earlier)
        pains = list(seen.values_list("pain", flat=True))
        assert (review.highest_pain, review.painful_sets) == (max(pains), len(pains)), review.pk
        assert review.by_id is not None


def test_a_regress_after_a_pain_spike_is_the_therapists_review(network):
    regressed = {
        (c.patient_id, c.side, c.at, c.by_id)
        for c in StageChange.objects.filter(reason=ChangeReason.REGRESSED)
    }
    reviews = {
        (r.patient_id, r.side, r.at, r.by_id)
        for r in PainReview.objects.filter(outcome=PainOutcome.REGRESSED)
    }
    assert regressed == reviews and reviews
    # Some recent pain is not reviewed yet: open alerts for the report and the dashboard.
    active = Patient.objects.active().values("pk")
    assert open_pain_alerts(Q(patient__in=active), Clinic.objects.all())


def test_a_side_progresses_only_when_ready_by_the_rule(network):
    # Ready = a qualifying set with no painful set on the prescription at or after it, with the
    # thresholds in force (the prescription's own, else the clinic's).
    progressed = StageChange.objects.filter(
        reason=ChangeReason.PROGRESSED,
        patient=OuterRef("patient"),
        side=OuterRef("side"),
        at=OuterRef("ended_at"),
        from_stage=OuterRef("stage"),
    )
    left = Prescription.objects.filter(Exists(progressed)).with_readiness()
    assert left.exists()
    assert not left.filter(is_ready=False).exists()


def test_every_set_was_allowed_by_the_clearance_in_effect_that_day(network):
    for patient in Patient.objects.filter(clearance_notes__isnull=False).distinct():
        notes = list(patient.clearance_notes.all())
        for logged in SetLog.objects.filter(patient=patient).select_related("stage"):
            day = patient.clinic.local_date(logged.performed_at)
            note = note_in_effect(notes, day)
            if note is not None and note.decision == Decision.NOT_REQUIRED:
                continue  # no clearance was needed then (it is again now, for some)
            assert clearance_problem(patient, logged.stage, logged.side, day, notes) is None
