"""`python manage.py seed_demo`: two clinics, their care teams and ~40 patients with 8 weeks of logs.

Safe to run again: existing demo patients are skipped, and every demo user's password is reset to
`--password`. The data itself is built in `clinic/data/demo/`.
"""

from __future__ import annotations

import textwrap
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from clinic.data.demo.clinics import CLINICS
from clinic.data.demo.plans import (
    DEFAULT_PATIENTS_PER_CLINIC,
    PatientPlan,
    demo_patients,
    patient_plans,
    set_count,
)
from clinic.data.demo.seed import DEFAULT_SEED, patient_seed, stages_by_number
from clinic.data.demo.stories import Scenario
from clinic.data.demo.team import Login, cast_ensure, passwords_reset
from clinic.data.progress_bar import progress_bar
from patients.models import Patient

SIGN_IN_URL = "http://127.0.0.1:8000/accounts/login/"
ADMIN_URL = "http://127.0.0.1:8000/admin/"


class Command(BaseCommand):
    help = (
        "Create demo data: two clinics in different time zones, therapists and staff, and about "
        "40 patients with eight weeks of logged sets, each with a login. Idempotent; resets the "
        "demo users' passwords. Refuses to run with DEBUG off unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default="demo",
            help="Password for every demo user: admin, therapists, staff, patients (default: demo).",
        )
        parser.add_argument(
            "--patients",
            type=int,
            default=DEFAULT_PATIENTS_PER_CLINIC,
            help=f"Patients per clinic (default: {DEFAULT_PATIENTS_PER_CLINIC}). The first few "
            f"of each clinic carry the alerts to demonstrate.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help="Seed for the simulated history (default: %(default)s).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo users have a known password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo refuses to run with DEBUG off: it creates users whose password is "
                "known. Use it on a development database, or pass --force if you mean it."
            )
        per_clinic: int = options["patients"]
        password: str = options["password"]
        if per_clinic < 1:
            raise CommandError("--patients must be at least 1.")
        if not password:
            raise CommandError("--password cannot be empty.")
        stages = stages_by_number()
        if not stages:
            raise CommandError("The clamshell ladder is missing: run `manage.py migrate` first.")

        # One moment for the whole run: every simulated event lies before it.
        now = timezone.now()
        with transaction.atomic():
            cast = cast_ensure()
        plans = patient_plans(per_clinic)
        created = 0
        progress = progress_bar(self.stderr, options["verbosity"])(
            plans, desc="Demo patients", unit="patient"
        )
        for plan in progress:
            progress.set_postfix_str(plan.username, refresh=False)
            if patient_seed(plan, cast, stages=stages, now=now, seed=options["seed"]):
                created += 1
        progress.close()

        patients = list(
            Patient.objects.filter(demo_patients(plans)).select_related("clinic", "user")
        )
        passwords_reset([*cast.user_ids, *(p.user_id for p in patients if p.user_id)], password)
        if options["verbosity"] > 0:
            self._report(cast.logins, plans, patients, created, password)

    def _report(
        self,
        team: list[Login],
        plans: list[PatientPlan],
        patients: list[Patient],
        created: int,
        password: str,
    ) -> None:
        by_record = {(p.clinic.slug, p.record_number): p for p in patients}
        featured: list[Login] = []
        others: dict[str, list[str]] = {spec.name: [] for spec in CLINICS}
        for plan in plans:
            patient = by_record.get((plan.clinic.slug, plan.record_number))
            if patient is None or patient.user is None:
                continue
            if plan.scenario == Scenario.STEADY:
                others[plan.clinic.name].append(patient.user.username)
            else:
                featured.append(
                    Login("patient", plan.clinic.name, patient.user.username, plan.story)
                )

        out = self.stdout
        out.write(
            f"Demo data ready: {len(CLINICS)} clinics, {len(team)} care-team and admin logins, "
            f"{len(patients)} patients ({created} new, {len(patients) - created} already there), "
            f"{set_count(plans)} logged sets."
        )
        out.write("")
        out.write(f"Sign in at {SIGN_IN_URL} (Django admin: {ADMIN_URL}).")
        out.write(f"Every demo user's password is: {password}")
        out.write("")
        rows = [("role", "clinic", "username", "")]
        rows += [(x.role, x.clinic, x.username, x.note) for x in team + featured]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for role, clinic, username, note in rows:
            line = f"{role:<{widths[0]}}  {clinic:<{widths[1]}}  {username:<{widths[2]}}  {note}"
            out.write(line.rstrip(), self.style.MIGRATE_HEADING if role == "role" else None)
        for clinic, usernames in others.items():
            if usernames:
                out.write("")
                out.write(f"Other patients at {clinic}:")
                out.write(
                    textwrap.fill(
                        ", ".join(usernames), width=96, initial_indent="  ", subsequent_indent="  "
                    )
                )
