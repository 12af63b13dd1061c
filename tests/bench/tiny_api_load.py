"""A tiny API load run on a scratch SQLite file, for tests/bench/test_api_load.py.

    python -m tests.bench.tiny_api_load <path to a new SQLite file>

It runs in a process of its own because gunicorn must share the database: the test suite's
in-memory SQLite database cannot be shared. Migrates the file, makes three patients who can log,
runs `measure_api` with 2 workers and 40 requests per endpoint and prints the result as JSON.
"""

import datetime as dt
import json
import os
import sys


def main(path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    # Django must be set up before these import models.
    from django.core.management import call_command
    from django.utils import timezone

    from clinic.bench.api_load import measure_api
    from exercises.services import prescription_start
    from patients.models import Role
    from tests.factories import (
        ClinicFactory,
        MembershipFactory,
        PatientFactory,
        UserFactory,
        stage,
    )

    call_command("migrate", verbosity=0)
    clinic = ClinicFactory()
    therapist = MembershipFactory(clinic=clinic, role=Role.THERAPIST).user
    for _ in range(3):
        patient = PatientFactory(clinic=clinic, primary_therapist=therapist, user=UserFactory())
        prescription_start(
            patient=patient,
            side="left",
            stage=stage(1),
            by=therapist,
            at=timezone.now() - dt.timedelta(days=2),
        )
    print(json.dumps(measure_api(quick=True, workers=2, requests=40)))


if __name__ == "__main__":
    main(sys.argv[1])
