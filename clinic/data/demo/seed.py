"""One demo patient created through the services, with their whole history (`patient_seed`)."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.db import transaction

from clinic.data.demo.history import PatientHistory
from clinic.data.demo.plans import PatientPlan
from clinic.data.demo.stories import CLEARANCE_REASONS
from clinic.data.demo.team import Cast
from exercises.models import Stage
from patients.models import Patient
from patients.services import patient_create, patient_login_create

LADDER_SLUG = "hip-clamshell"
DEFAULT_SEED = 2011  # Boren et al. 2011, whose %MVIC figures the ladder reports.


def stages_by_number() -> dict[int, Stage]:
    return {
        s.number: s for s in Stage.objects.filter(ladder__slug=LADDER_SLUG).select_related("ladder")
    }


def patient_seed(
    plan: PatientPlan,
    cast: Cast,
    *,
    stages: dict[int, Stage],
    now: dt.datetime,
    seed: int,
) -> bool:
    """Create one demo patient with their whole history, or skip them if they exist already.

    One transaction per patient: a failure leaves no half-made patient behind, and a patient
    that exists is complete, so skipping it keeps the command idempotent.
    """
    clinic = cast.clinics[plan.clinic.slug]
    with transaction.atomic():
        if Patient.objects.filter(clinic=clinic, record_number=plan.record_number).exists():
            return False
        therapists = cast.therapists[plan.clinic.slug]
        therapist = therapists[plan.index % len(therapists)]
        # A string seed is hashed with SHA-512, so it is stable across processes and machines.
        rng = random.Random(f"{seed}:{plan.clinic.slug}:{plan.record_number}")
        today = clinic.local_date(now)
        age = rng.randint(24, 82)
        patient = patient_create(
            clinic=clinic,
            record_number=plan.record_number,
            first_name=plan.first_name,
            last_name=plan.last_name,
            date_of_birth=dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28)),
            affected_side=plan.affected_side,
            primary_therapist=therapist,
            requires_clearance=plan.scenario.needs_clearance,
            clearance_reason=CLEARANCE_REASONS.get(plan.scenario, ""),
            by=therapist,
        )
        # No password here: the caller sets every demo user's password in one go (see
        # `team.passwords_reset`), which keeps the run fast.
        patient_login_create(
            patient=patient, username=_free_username(plan.username), password=None, by=therapist
        )
        PatientHistory(plan, patient, therapist, stages, now, rng).run()
    return True


def _free_username(wanted: str) -> str:
    # Only reached when someone else already took the name outside the demo.
    User = get_user_model()
    username, n = wanted, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{wanted}{n}"
    return username
