"""Schemathesis against the generated OpenAPI schema, in-process, with a patient's token.

Every operation gets the schema's own examples, the coverage phase (boundary values and invalid
values derived from each constraint, and the methods it does not allow) and the fuzzing phase (50
generated cases, positive and negative). Each response is checked against the schema: no server
error, only documented status codes, content types and headers, bodies that match their schema,
no input that the schema calls invalid accepted, and auth really enforced.

Under CI (the CI variable set) Hypothesis derandomizes, so a CI run is reproducible; locally every
run explores new cases. The file takes about 10-25 s on two cores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from exercises.services import prescription_advance, prescription_start
from tests.factories import PatientFactory, UserFactory, stage

# A fixed key, so the header can be part of the configuration (it is never fuzzed: every case is
# sent as the patient). The fixture stores it for the patient before each case.
TOKEN = "f022c0a5schemathesis0000000000000000000"
# 50 keeps the file well under a minute on two cores; raise it for a deeper run, e.g.
# FUZZ_EXAMPLES=1000 .venv/bin/pytest tests/api/test_schemathesis.py
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "50"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",  # every status code is documented for its operation
    "content_type_conformance",
    "response_schema_conformance",  # every body matches the schema of its status code
    "response_headers_conformance",  # e.g. Retry-After on a 429
    "negative_data_rejection",  # nothing the schema calls invalid is accepted
    "missing_required_header",
    "ignored_auth",  # the same request without the token, or with a bad one, gets 401
    "unsupported_method",  # other methods get 405
    "allow_header_conformance",  # and their Allow header lists the documented ones
]
# Not positive_data_acceptance: a request the schema allows may still be refused, with a 400 that
# explains why, for reasons JSON Schema cannot express (a wrong password, a set older than 30 days
# or done before the prescription started).

CONFIG = SchemathesisConfig.from_dict(
    {
        "headers": {"Authorization": f"Token {TOKEN}"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {
                "enabled": True,
                "generation": {"max-examples": EXAMPLES_PER_OPERATION},
            },
        },
        "generation": {"mode": "all", "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }
)

# pytest-django has configured Django before it collects this module, so the app can be built
# and the schema fetched here; generating the schema reads no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def fuzzed_patient(db):
    """A patient with a real plan: left side advanced once (an ended prescription and an active
    one), right side active; and another patient's prescription, which must answer 404."""
    now = timezone.now()
    therapist = UserFactory(username="fuzz-therapist")
    patient = PatientFactory(user=UserFactory(username="fuzz-patient"))
    left = prescription_start(
        patient=patient, side="left", stage=stage(1), by=therapist, at=now - dt.timedelta(days=20)
    )
    left_now = prescription_advance(prescription=left, by=therapist, at=now - dt.timedelta(days=5))
    right = prescription_start(
        patient=patient, side="right", stage=stage(2), by=therapist, at=now - dt.timedelta(days=20)
    )
    other = PatientFactory(clinic=patient.clinic, user=UserFactory(username="fuzz-other"))
    theirs = prescription_start(
        patient=other, side="left", stage=stage(1), by=therapist, at=now - dt.timedelta(days=20)
    )
    return patient, [left_now.pk, right.pk, left.pk, theirs.pk]


@pytest.fixture
def no_lockout(settings):
    """The sign-in lockout counts in the database, which cache.clear() below does not reset: after
    a few fuzzed wrong passwords every later sign-in case would answer 429 `locked_out` and test
    nothing else. The lockout has its own tests (tests/security/test_lockout.py)."""
    settings.AXES_ENABLED = False


@pytest.fixture
def in_process_requests():
    """Requests reach the app inside the test's transaction. Django's own test client stops the
    request signals from closing the connection; the WSGI transport does not, so do it here (on
    PostgreSQL the close would end the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
# The fixtures are not reset between cases on purpose: the test restores what a case may change
# (the token, the throttle counters) itself, and the sets stored by earlier cases stay, as they
# would for a real phone (a replayed client_id then answers 200 or 409).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_api_matches_its_schema(
    case, fuzzed_patient, in_process_requests, no_lockout, outcomes
):
    patient, prescription_ids = fuzzed_patient
    # Every case is sent as the signed-in patient, whatever an earlier case did (sign-out revokes
    # the token), and no throttle carries over from earlier cases: sign-in fuzzed with random
    # passwords must not lock anyone out, and a 429 would hide what the case was meant to test.
    Token.objects.get_or_create(user=patient.user, defaults={"key": TOKEN})
    cache.clear()
    _aim(case, prescription_ids)
    response = case.call_and_validate()
    outcomes[response.status_code] += 1
    if (
        case.path == "/api/v1/me/sets/batch/"
        and case.method == "POST"
        and response.status_code == 200
    ):
        for result in response.json()["results"]:
            outcomes[f"batch item {result['http_status']}"] += 1


@pytest.fixture
def outcomes(request):
    """What the cases of one operation got; checked once all of them have run (a fixture is set
    up once per operation, not per case): enough cases, and sets that really reached the service
    and were stored, so the run is not just 400s and 404s."""
    counts: Counter[int | str] = Counter()
    failed_before = request.session.testsfailed
    yield counts
    print(request.node.name, dict(counts))  # shown with a failure, or with -rA
    if request.session.testsfailed > failed_before:
        return  # the failure itself says what went wrong
    assert sum(v for k, v in counts.items() if isinstance(k, int)) >= EXAMPLES_PER_OPERATION
    if request.node.name.endswith("[POST /api/v1/me/sets/]"):
        assert counts[201] > 0, counts
    if request.node.name.endswith("[POST /api/v1/me/sets/batch/]"):
        assert counts["batch item 201"] > 0, counts


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _aim(case: Any, prescription_ids: list[int]) -> None:
    """Point schema-valid set fields at the patient's real plan, so generated sets reach the
    service instead of all stopping at "no such prescription" or "older than 30 days".

    Only values the schema accepts are replaced, and only by other values it accepts: a field a
    negative case made invalid stays invalid, so negative_data_rejection still means something.
    """
    if case.method.upper() != "POST":
        return
    if case.path == "/api/v1/me/sets/":
        items = [case.body]
    elif case.path == "/api/v1/me/sets/batch/" and isinstance(case.body, dict):
        items = case.body.get("sets")
    else:
        return
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        prescription = item.get("prescription")
        if type(prescription) is int and 1 <= prescription <= 2**63 - 1:
            item["prescription"] = prescription_ids[prescription % len(prescription_ids)]
        performed_at = item.get("performed_at")
        if _is_date_time(performed_at):
            item["performed_at"] = _recent(performed_at)


def _is_date_time(value: Any) -> bool:
    """RFC 3339, with its offset (what `format: date-time` allows, bar leap seconds)."""
    if not isinstance(value, str) or not RFC3339.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False  # e.g. 12:99:00
    return True


def _recent(value: str) -> str:
    """A time in the last six days, chosen by the original value (so a replayed case replays it)."""
    minutes = int(hashlib.sha256(value.encode()).hexdigest(), 16) % (6 * 24 * 60)
    moment = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
    return moment.isoformat()
