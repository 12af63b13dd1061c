"""No patient name, note, clearance text or typed password ever reaches the log.

The test drives the app the way a clinic does (a therapist creates and edits a patient, gives them
a login and records a clearance note; the patient signs in, logs sets with notes from the phone and
the web page; someone mistypes a password; forms are refused; a view crashes) with the root logger
at DEBUG and Django's SQL log switched on, then reads what the configured handlers wrote, tracebacks
included. Every distinctive string must be absent; the run must have produced the log lines it is
about (a failed sign-in, a 500 with its traceback), so an empty log cannot pass.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from exercises.models import Prescription
from patients.models import Patient
from tests.api.helpers import SETS_URL, TOKEN_URL, a_set, start

FIRST_NAME = "Wilhelmina"
LAST_NAME = "Quarrington"
NOTE = "tingling behind the left knee"
WEB_NOTE = "did these after the school run"
CLEARANCE_REASON = "acetabular hairline crack"
RESTRICTIONS = "no stairs until the scan on Thursday"
PASSWORD = "purple-anchor-lighthouse-42"
WRONG_PASSWORD = "wrong-staple-battery-77"
SECRETS = [
    FIRST_NAME,
    LAST_NAME,
    NOTE,
    WEB_NOTE,
    CLEARANCE_REASON,
    RESTRICTIONS,
    PASSWORD,
    WRONG_PASSWORD,
]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the project's own handlers (settings.LOGGING) write, with everything logged at DEBUG.

    pytest's capture handlers sit on the root logger too; they are not the project's log and see
    records before the project's filters, so they are left out.
    """
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and not type(h).__module__.startswith("_pytest")
    ]
    assert handlers, "settings.LOGGING configures no stream handler on the root logger"
    streams = [h.setStream(buffer) for h in handlers]
    level = root.level
    root.setLevel(logging.DEBUG)
    # Django's SQL log (with every parameter) is written only when DEBUG is on; force it.
    connection.force_debug_cursor = True
    try:
        yield buffer
    finally:
        connection.force_debug_cursor = False
        root.setLevel(level)
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


def _signed_in(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _create_patient(therapist_web: Client, clinic: Any, therapist: Any) -> Patient:
    form = {
        "record_number": "LOG-0001",
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "date_of_birth": "1958-09-30",
        "affected_side": "left",
        "requires_clearance": "on",
        "clearance_reason": CLEARANCE_REASON,
        "primary_therapist": therapist.pk,
    }
    # Refused first (a birth date in the future), then accepted.
    refused = therapist_web.post("/patients/new/", {**form, "date_of_birth": "2999-01-01"})
    assert refused.status_code == 200 and refused.context["form"].errors
    assert therapist_web.post("/patients/new/", form).status_code == 302
    patient = Patient.objects.get(clinic=clinic, record_number="LOG-0001")
    edited = therapist_web.post(f"/patients/{patient.pk}/edit/", {**form, "last_name": LAST_NAME})
    assert edited.status_code == 302
    return patient


def _record_clearance(therapist_web: Client, patient: Patient) -> None:
    today = timezone.localdate()
    fields = {
        "decision": "restricted",
        "reason": CLEARANCE_REASON,
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD",
        "signed_on": today.isoformat(),
        "review_on": (today + dt.timedelta(days=60)).isoformat(),
        "weight_bearing": "not_stated",
        "max_stage": "2",
        "restrictions": RESTRICTIONS,
    }
    data = {f"clearance-{k}": v for k, v in fields.items()}
    response = therapist_web.post(f"/patients/{patient.pk}/clearance/", data)
    assert response.status_code == 302, (
        response.context and response.context["clearance_form"].errors
    )


def _give_login(therapist_web: Client, patient: Patient) -> str:
    username = f"{FIRST_NAME}.{LAST_NAME}".lower()  # what the form suggests
    data = {"username": username, "password": PASSWORD, "password_confirm": PASSWORD}
    assert therapist_web.post(f"/patients/{patient.pk}/login/", data).status_code == 302
    return username


def _patient_flows(username: str, prescription: Prescription) -> APIClient:
    # Mistyped passwords: the web page, the admin's sign-in, the API.
    for url in ("/accounts/login/", "/admin/login/"):
        response = Client().post(url, {"username": username, "password": WRONG_PASSWORD})
        assert response.status_code == 200
    bad = APIClient().post(
        TOKEN_URL, {"username": username, "password": WRONG_PASSWORD}, format="json"
    )
    assert bad.status_code == 400
    # Then right: the web page and the phone app.
    web = Client(raise_request_exception=False)
    assert (
        web.post("/accounts/login/", {"username": username, "password": PASSWORD}).status_code
        == 302
    )
    token = APIClient().post(TOKEN_URL, {"username": username, "password": PASSWORD}, format="json")
    assert token.status_code == 200, token.content
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")

    now = timezone.now().isoformat()
    logged = app.post(SETS_URL, a_set(prescription, note=NOTE, performed_at=now), format="json")
    assert logged.status_code == 201, logged.content
    refused = app.post(SETS_URL, a_set(prescription, note=NOTE * 50), format="json")
    assert refused.status_code == 400
    web_log = {
        "side": "left",
        "left-prescription": prescription.pk,
        "left-client_id": str(uuid.uuid4()),
        "left-reps": 12,
        "left-pain": 2,
        "left-note": WEB_NOTE,
    }
    assert web.post("/me/log/", web_log).status_code == 302
    assert web.post("/me/log/", {**web_log, "left-reps": 1000}).status_code == 400
    return app


def _crash(
    monkeypatch: pytest.MonkeyPatch, therapist_web: Client, app: APIClient, patient: Patient
) -> None:
    """A view that fails with the patient loaded: the 500 is logged with its traceback."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the alerts could not be computed")

    monkeypatch.setattr("clinic.patient_page.page.patient_alerts", broken)
    monkeypatch.setattr("exercises.api.views.plan_for", broken)
    assert therapist_web.get(f"/patients/{patient.pk}/").status_code == 500
    app.raise_request_exception = False
    response = app.get("/api/v1/me/plan/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_the_log_carries_no_patient_data_or_typed_text(
    log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    clinic: Any,
    therapist: Any,
) -> None:
    therapist_web = _signed_in(therapist)
    patient = _create_patient(therapist_web, clinic, therapist)
    _record_clearance(therapist_web, patient)
    username = _give_login(therapist_web, patient)
    prescription = start(patient, therapist, days_ago=0)
    app = _patient_flows(username, prescription)
    _crash(monkeypatch, therapist_web, app, patient)

    log = log_output.getvalue()
    # The flows produced the lines this test is about: it is not reading an empty log.
    assert "Internal Server Error: /patients/" in log
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: the alerts could not be computed" in log
    assert "AXES: New login failure" in log
    assert "Bad Request: /api/v1/me/sets/" in log
    leaked = [s for s in (*SECRETS, username) if s.lower() in log.lower()]
    assert not leaked, f"The log carries {leaked}:\n{log}"


def test_the_username_filter_keeps_the_rest_of_the_line(log_output: io.StringIO) -> None:
    logging.getLogger("axes.handlers.database").warning(
        "AXES: New login failure by %s.",
        '{username: "wilhelmina.quarrington", ip_address: "10.0.0.7", path_info: "/accounts/login/"}',
    )
    line = log_output.getvalue()
    assert "wilhelmina" not in line
    assert 'username: [redacted], ip_address: "10.0.0.7", path_info: "/accounts/login/"' in line


def test_the_sql_log_is_never_written(log_output: io.StringIO, patient: Patient) -> None:
    Patient.objects.filter(first_name=patient.first_name).count()
    assert patient.first_name not in log_output.getvalue()
    assert "SELECT" not in log_output.getvalue()


def test_a_real_failed_sign_in_logs_the_address_but_not_the_username(
    log_output: io.StringIO, patient: Patient
) -> None:
    Client().post(
        "/accounts/login/",
        {"username": patient.user.username, "password": "not-the-password-at-all"},
        REMOTE_ADDR="10.0.0.7",
    )
    [line] = [line for line in log_output.getvalue().splitlines() if "New login failure" in line]
    assert f'"{patient.user.username}"' not in line
    assert "username: [redacted]" in line
    assert '"10.0.0.7"' in line
