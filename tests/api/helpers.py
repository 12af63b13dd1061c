"""Helpers for the API tests: a signed-in client, a valid set, what is stored, the error shape.

The API uses the real clock (timezone.now()), so prescriptions start a few days ago and sets are
performed minutes or hours ago.
"""

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises.models import Prescription, SetLog
from exercises.services import prescription_start
from patients.models import Patient
from tests.factories import stage

SETS_URL = "/api/v1/me/sets/"
BATCH_URL = "/api/v1/me/sets/batch/"
TOKEN_URL = "/api/v1/auth/token/"


def client_for(user: Any) -> APIClient:
    """A client signed in as the phone app is: with a token in the Authorization header."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def start(patient: Patient, by: Any, *, side: str = "left", number: int = 1, days_ago: int = 3):
    return prescription_start(
        patient=patient,
        side=side,
        stage=stage(number),
        by=by,
        at=timezone.now() - dt.timedelta(days=days_ago),
    )


def earlier_today(prescription: Prescription) -> dt.datetime:
    """Half an hour ago, or the start of the clinic's day when that was yesterday: a set done
    today whatever the time the suite runs (just after midnight, half an hour ago was yesterday,
    and the answer to a set done on an earlier day is worded differently)."""
    now = timezone.now()
    clinic = prescription.patient.clinic
    earlier = now - dt.timedelta(minutes=30)
    if clinic.local_date(earlier) == clinic.local_date(now):
        return earlier
    return dt.datetime.combine(clinic.local_date(now), dt.time(), tzinfo=clinic.tzinfo)


def a_set(prescription: Prescription, /, **fields: Any) -> dict[str, Any]:
    """A valid body for POST me/sets/, as the phone app sends it (JSON types)."""
    body = {
        "client_id": str(uuid.uuid4()),
        "prescription": prescription.pk,
        "reps": 12,
        "pain": 2,
        "effort": 6,
        "performed_at": earlier_today(prescription).isoformat(),
        "note": "Felt steady.",
    }
    body.update(fields)
    return body


def stored() -> tuple[int, int]:
    """Rows and audit-history rows of set logs: what a refused or replayed write must not change."""
    return SetLog.objects.count(), SetLog.history.count()


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, with the expected status (and code); returns the error object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code, error
    return error
