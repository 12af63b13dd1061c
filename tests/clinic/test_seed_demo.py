"""`manage.py seed_demo`: the demo cast, their eight weeks of history, idempotency, the DEBUG guard.

The full default run (2 clinics x 20 patients) takes a few seconds, so it runs once for the class that checks it,
inside a transaction that is rolled back when the class ends; each test then runs in its own
savepoint on top of it, so tests that run the command again cannot affect each other.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F, Q
from django.test import override_settings
from django.utils import timezone

from exercises.adherence import AdherenceBand, rolling_window
from exercises.models import ChangeReason, Prescription, SetLog, StageChange
from exercises.progression import AlertKind, alerts_for
from exercises.services import MAX_LOG_AGE, pause_reason
from patients.models import ClearanceNote, Clinic, Membership, Patient, Role, Side

User = get_user_model()


@dataclass(frozen=True)
class Run:
    stdout: str
    stderr: str


def seed(*args: str) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("seed_demo", *args, stdout=stdout, stderr=stderr)
    return Run(stdout.getvalue(), stderr.getvalue())


def counts() -> dict[str, int]:
    return {
        "clinics": Clinic.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "patients": Patient.objects.count(),
        "prescriptions": Prescription.objects.count(),
        "stage changes": StageChange.objects.count(),
        "set logs": SetLog.objects.count(),
        "clearance notes": ClearanceNote.objects.count(),
    }


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker) -> Iterator[Run]:
    """One default run for the class, rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        # pytest-django turns DEBUG off; the command is meant for development databases.
        with override_settings(DEBUG=True):
            run = seed()
        yield run
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded: Run, db, settings) -> Run:
    settings.DEBUG = True
    return seeded


def demo_patients() -> list[Patient]:
    return list(Patient.objects.select_related("clinic", "user"))


class TestTheDefaultDemo:
    """Checks on one full default run (shared by the class, rolled back after it)."""

    def test_it_creates_two_clinics_in_different_time_zones(self, demo):
        clinics = {c.slug: c for c in Clinic.objects.all()}

        assert clinics["riverside"].name == "Riverside Physiotherapy"
        assert clinics["riverside"].timezone == "Europe/London"
        assert clinics["lakeside"].name == "Lakeside Rehab"
        assert clinics["lakeside"].timezone == "America/Chicago"

    def test_each_clinic_has_two_therapists_and_a_staff_member(self, demo):
        for clinic in Clinic.objects.all():
            roles = list(clinic.memberships.values_list("role", flat=True))
            assert roles.count(Role.THERAPIST) >= 2
            assert roles.count(Role.STAFF) >= 1
        assert Membership.objects.filter(
            user__username="therapist1.riverside", clinic__slug="riverside", role=Role.THERAPIST
        ).exists()
        assert Membership.objects.filter(
            user__username="staff.lakeside", clinic__slug="lakeside", role=Role.STAFF
        ).exists()

    def test_it_creates_a_superuser_for_the_admin(self, demo):
        admin = User.objects.get(username="admin")

        assert admin.is_superuser
        assert admin.is_staff

    def test_every_patient_has_a_readable_login_and_a_therapist_of_their_clinic(self, demo):
        patients = demo_patients()

        assert len(patients) == 40
        assert {p.clinic.slug for p in patients} == {"riverside", "lakeside"}
        for p in patients:
            assert p.user is not None
            assert p.user.username == f"{p.first_name}.{p.last_name}".lower()
            assert p.primary_therapist.memberships.filter(
                clinic=p.clinic, role=Role.THERAPIST
            ).exists()
        assert len({p.user_id for p in patients}) == 40

    def test_it_logs_eight_weeks_on_both_sides_at_every_stage(self, demo):
        sets = SetLog.objects.all()
        first, last = sets.order_by("performed_at")[0], sets.order_by("-performed_at")[0]

        assert sets.count() > 1000
        assert (last.performed_at - first.performed_at).days >= 7 * 7
        assert set(sets.values_list("side", flat=True)) == {Side.LEFT, Side.RIGHT}
        assert set(sets.values_list("stage__number", flat=True)) == {1, 2, 3, 4}
        assert set(sets.values_list("source", flat=True)) == {"app", "web", "clinic"}

    def test_sets_fall_at_plausible_local_hours(self, demo):
        for s in SetLog.objects.select_related("patient__clinic"):
            hour = s.performed_at.astimezone(s.patient.clinic.tzinfo).hour
            if s.source == "clinic":
                assert 9 <= hour < 17
            else:
                assert 6 <= hour < 10 or 18 <= hour < 23

    def test_the_history_mixes_progressions_regressions_and_stops(self, demo):
        reasons = set(StageChange.objects.values_list("reason", flat=True))

        assert reasons == set(ChangeReason.values)
        # A regression follows pain above 5 on the stage regressed from.
        for change in StageChange.objects.filter(reason=ChangeReason.REGRESSED):
            assert SetLog.objects.filter(
                patient=change.patient,
                side=change.side,
                stage=change.from_stage,
                pain__gt=5,
                performed_at__lt=change.at,
            ).exists()

    def test_reps_climb_within_a_stage(self, demo):
        climbing = 0
        long_stays = Prescription.objects.filter(set_logs__isnull=False).distinct()
        for prescription in long_stays:
            reps = list(
                prescription.set_logs.order_by("performed_at").values_list("reps", flat=True)
            )
            if len(reps) < 20:
                continue
            early, late = reps[:8], reps[-8:]
            climbing += sum(late) > sum(early)
        assert climbing >= 10

    def test_pain_is_mostly_in_the_safe_band_with_occasional_flare_ups(self, demo):
        total = SetLog.objects.count()
        safe = SetLog.objects.filter(pain__lte=3).count()
        acceptable = SetLog.objects.filter(pain__in=(4, 5)).count()
        too_much = SetLog.objects.filter(pain__gt=5).count()

        assert safe / total > 0.85
        assert acceptable > 0
        assert 0 < too_much < total / 100

    def test_adherence_ranges_from_most_days_to_rarely(self, demo):
        bands = {
            rolling_window(p, p.clinic.local_date(timezone.now())).band
            for p in demo_patients()
            if p.set_logs.exists()
        }
        weekly_days = {
            p.pk: p.set_logs.dates("performed_at", "day").count() / 8
            for p in demo_patients()
            if p.set_logs.filter(performed_at__lt=timezone.now() - dt.timedelta(days=50)).exists()
        }

        assert bands >= {AdherenceBand.DAYS_16_30, AdherenceBand.DAYS_2_15}
        assert max(weekly_days.values()) >= 5
        assert any(2 <= days <= 3.5 for days in weekly_days.values())
        assert min(weekly_days.values()) <= 1.5

    def test_every_alert_a_demo_needs_is_present(self, demo):
        alerts = alerts_for(demo_patients())
        kinds = {a.kind for patient_alerts in alerts.values() for a in patient_alerts}

        assert kinds >= {
            AlertKind.READY,
            AlertKind.PAIN,
            AlertKind.CLEARANCE_MISSING,
            AlertKind.CLEARANCE_LAPSED,
            AlertKind.NO_LOGS,
        }

    def test_a_posterior_hip_replacement_patient_is_held_at_stage_1_and_the_screens_say_why(
        self, demo, client
    ):
        [hip] = Patient.objects.filter(
            clearance_reason="posterior-approach total hip replacement"
        ).select_related("clinic")
        note = hip.clearance_notes.get()
        assert note.no_internal_rotation and note.no_flexion_past_90
        assert note.operated_side == hip.affected_side
        [rx] = hip.prescriptions.active()
        assert rx.stage.number == 1
        assert not StageChange.objects.filter(patient=hip, reason=ChangeReason.PROGRESSED).exists()
        [ready] = [a for a in alerts_for([hip])[hip.pk] if a.kind == AlertKind.READY]
        assert ready.next_stage_blocked and "turns the" in ready.next_stage_blocked

        therapist = hip.primary_therapist
        client.force_login(therapist)
        dashboard = client.get("/dashboard/", {"q": hip.record_number}).content.decode()
        assert "Ready, next stage not allowed" in dashboard
        assert "Stage 2 turns the" in dashboard
        page = client.get(f"/patients/{hip.pk}/").content.decode()
        assert "Stage 2 is not allowed:" in page
        assert "(no hip internal rotation past neutral)" in page

    def test_painful_sets_are_reviewed_by_the_therapist_except_this_weeks(self, demo):
        from exercises.models import PainReview

        assert PainReview.objects.filter(by__isnull=False).exists()
        assert not PainReview.objects.filter(outcome="closed_earlier").exists()

    def test_most_patients_have_no_alert_or_one_or_two(self, demo):
        alerts = alerts_for(demo_patients())

        assert sum(1 for a in alerts.values() if not a) >= 10
        assert all(len(a) <= 3 for a in alerts.values())

    def test_a_patient_needs_clearance_and_has_none_recorded(self, demo):
        waiting = Patient.objects.filter(
            requires_clearance=True,
            clearance_reason="pelvic fracture",
            clearance_notes__isnull=True,
        )

        assert waiting.exists()
        assert not Prescription.objects.filter(patient__in=waiting).exists()

    def test_a_patient_whose_clearance_lapsed_has_a_paused_prescription(self, demo):
        lapsed = [
            p
            for p in demo_patients()
            if any(a.kind == AlertKind.CLEARANCE_LAPSED for a in alerts_for([p])[p.pk])
        ]

        assert lapsed
        for patient in lapsed:
            today = patient.clinic.local_date(timezone.now())
            active = patient.prescriptions.active()
            assert active.exists()
            assert all(pause_reason(p, today) for p in active)
            assert patient.clearance_notes.newest_first()[0].review_on < today

    def test_clearance_notes_are_signed_before_the_prescriptions_they_allow(self, demo):
        for patient in Patient.objects.filter(requires_clearance=True, prescriptions__isnull=False):
            first_start = patient.prescriptions.order_by("started_at")[0].started_at
            first_note = patient.clearance_notes.order_by("signed_on")[0]
            assert first_note.signed_on < patient.clinic.local_date(first_start)

    def test_every_set_lies_within_its_prescription_and_its_ranges(self, demo):
        sets = SetLog.objects.all()

        assert not sets.filter(performed_at__lt=F("prescription__started_at")).exists()
        assert not sets.filter(performed_at__gte=F("prescription__ended_at")).exists()
        assert not sets.exclude(
            stage=F("prescription__stage"), side=F("prescription__side")
        ).exists()
        assert not sets.exclude(patient=F("prescription__patient")).exists()
        assert not sets.filter(Q(reps__lt=1) | Q(reps__gt=100)).exists()
        assert not sets.filter(Q(pain__lt=0) | Q(pain__gt=10)).exists()
        assert not sets.filter(logged_at__lt=F("performed_at")).exists()
        assert not sets.filter(logged_at__gt=F("performed_at") + MAX_LOG_AGE).exists()
        assert not sets.filter(performed_at__gt=timezone.now()).exists()

    def test_stage_changes_never_overlap_on_a_side(self, demo):
        for patient in Patient.objects.all():
            for side in Side.values:
                spans = list(
                    patient.prescriptions.filter(side=side)
                    .order_by("started_at")
                    .values_list("started_at", "ended_at")
                )
                for (_, ended), (started, _) in itertools.pairwise(spans):
                    assert ended is not None and ended <= started

    def test_history_rows_name_who_made_each_change(self, demo):
        # The services record who acted; a save outside them would leave the history user empty.
        assert not SetLog.history.filter(history_user__isnull=True).exists()
        assert not SetLog.history.exclude(history_user=F("logged_by")).exists()
        assert not Prescription.history.filter(history_user__isnull=True).exists()
        assert not Patient.history.filter(history_user__isnull=True).exists()

    def test_running_it_twice_creates_nothing_new(self, demo):
        before = counts()

        run = seed()

        assert counts() == before
        assert "0 new, 40 already there" in run.stdout

    def test_running_it_again_resets_every_demo_users_password(self, demo):
        seed("--password", "a-new-secret")

        for username in ("admin", "therapist1.riverside", "staff.lakeside", "amelia.clarke"):
            assert authenticate(username=username, password="a-new-secret") is not None
            assert authenticate(username=username, password="demo") is None

    def test_every_demo_user_can_sign_in_with_the_demo_password(self, demo):
        demo_users = User.objects.filter(Q(patient__isnull=False) | Q(memberships__isnull=False))

        assert demo_users.distinct().count() == 40 + 3 + 2 + 2
        for user in demo_users.distinct():
            assert user.check_password("demo")

    def test_it_prints_the_logins_and_where_to_sign_in(self, demo):
        out = demo.stdout

        assert "http://127.0.0.1:8000/accounts/login/" in out
        assert "http://127.0.0.1:8000/admin/" in out
        for username in ("admin", "therapist1.riverside", "therapist2.lakeside", "staff.riverside"):
            assert username in out
        for patient in demo_patients():
            assert patient.user.username in out

    def test_it_shows_a_progress_bar(self, demo):
        assert "Demo patients" in demo.stderr
        assert "40/40" in demo.stderr


def test_it_makes_a_smaller_demo_on_request(db, settings):
    settings.DEBUG = True

    seed("--patients", "5")

    assert Patient.objects.count() == 10
    kinds = {a.kind for alerts in alerts_for(demo_patients()).values() for a in alerts}
    # The first patients of each clinic carry the stories, so a small demo still shows them all.
    assert kinds >= {
        AlertKind.READY,
        AlertKind.PAIN,
        AlertKind.CLEARANCE_MISSING,
        AlertKind.CLEARANCE_LAPSED,
        AlertKind.NO_LOGS,
    }


def test_it_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG off"):
        seed("--patients", "1")
    assert not Clinic.objects.filter(slug="riverside").exists()


def test_it_runs_with_debug_off_when_forced(db, settings):
    settings.DEBUG = False

    run = seed("--patients", "1", "--force")

    assert "Demo data ready" in run.stdout
    assert Patient.objects.filter(clinic__slug="riverside", record_number="RIV-00001").exists()
