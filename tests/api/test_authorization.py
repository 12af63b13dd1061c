"""Who may call what: every endpoint × {anonymous, the patient, another patient, a therapist, staff,
a therapist of another clinic}. Only patients use `me/`, and each patient only their own data."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from exercises.models import SetLog
from exercises.services import patient_discharge
from tests.api.helpers import (
    BATCH_URL,
    SETS_URL,
    TOKEN_URL,
    a_set,
    assert_error,
    client_for,
    stored,
)
from tests.factories import PASSWORD

WHO = ["anonymous", "patient", "other_patient", "therapist", "staff", "outsider"]


def _user(request, who):
    if who == "anonymous":
        return None
    person = request.getfixturevalue(who)
    return person.user if who in ("patient", "other_patient") else person


def _sign_in_body(request, who):
    # Anonymous is who signs in: with the patient's own credentials.
    user = _user(request, "patient" if who == "anonymous" else who)
    return {"username": user.username, "password": PASSWORD}


# endpoint -> (method, url, body builder or None, {who: status}); sign-in is the only endpoint
# open to anonymous callers, and `me/` answers patients only.
ME = {"anonymous": 401, "therapist": 403, "staff": 403, "outsider": 403}
ENDPOINTS = {
    "sign_in": (
        "post",
        TOKEN_URL,
        _sign_in_body,
        dict.fromkeys(WHO, 200),
    ),
    "sign_out": (
        "delete",
        TOKEN_URL,
        None,
        {**dict.fromkeys(WHO, 204), "anonymous": 401},
    ),
    "me": ("get", "/api/v1/me/", None, {**ME, "patient": 200, "other_patient": 200}),
    "plan": ("get", "/api/v1/me/plan/", None, {**ME, "patient": 200, "other_patient": 200}),
    "progress": (
        "get",
        "/api/v1/me/progress/",
        None,
        {**ME, "patient": 200, "other_patient": 200},
    ),
    "list_sets": ("get", SETS_URL, None, {**ME, "patient": 200, "other_patient": 200}),
    # Always the patient's prescription: another patient is told it does not exist.
    "log_set": (
        "post",
        SETS_URL,
        lambda request, who: a_set(request.getfixturevalue("prescription")),
        {**ME, "patient": 201, "other_patient": 404},
    ),
    "log_batch": (
        "post",
        BATCH_URL,
        lambda request, who: {"sets": [a_set(request.getfixturevalue("prescription"))]},
        {**ME, "patient": 200, "other_patient": 200},
    ),
}
TABLE = [
    (endpoint, who, statuses[who])
    for endpoint, (_, _, _, statuses) in ENDPOINTS.items()
    for who in WHO
]


@pytest.mark.parametrize(("endpoint", "who", "status"), TABLE)
def test_each_endpoint_answers_each_caller_as_the_table_says(
    request, prescription, other_prescription, endpoint, who, status
):
    method, url, body, _ = ENDPOINTS[endpoint]
    client = client_for(_user(request, who))
    data = body(request, who) if body else None
    response = getattr(client, method)(url, data, format="json")
    assert response.status_code == status, response.content
    if status >= 400:
        assert_error(response, status)
    if status == 401:
        # The app learns how to authenticate.
        assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "url", ["/api/v1/me/", "/api/v1/me/plan/", "/api/v1/me/progress/", SETS_URL]
)
def test_a_therapist_is_told_the_api_is_for_patients(therapist_client, url):
    error = assert_error(therapist_client.get(url), 403, "permission_denied")
    assert "for patients" in error["message"]


@pytest.mark.parametrize("who", ["therapist_client", "staff_client", "outsider_client"])
def test_a_therapist_or_staff_token_writes_nothing(request, prescription, who):
    client = request.getfixturevalue(who)
    before = stored()
    assert_error(client.post(SETS_URL, a_set(prescription), format="json"), 403)
    assert_error(client.post(BATCH_URL, {"sets": [a_set(prescription)]}, format="json"), 403)
    assert stored() == before


def test_an_anonymous_write_is_refused_and_writes_nothing(anonymous, prescription):
    before = stored()
    assert_error(anonymous.post(SETS_URL, a_set(prescription), format="json"), 401)
    assert_error(anonymous.post(BATCH_URL, {"sets": [a_set(prescription)]}, format="json"), 401)
    assert stored() == before


# -- another patient -------------------------------------------------------------------------


def test_another_patient_sees_only_their_own_identity(other_patient_client, patient, other_patient):
    body = other_patient_client.get("/api/v1/me/").json()
    assert (body["id"], body["first_name"]) == (other_patient.pk, "Omar")
    assert patient.last_name not in str(body)


def test_another_patient_never_lists_the_patients_sets(
    patient_client, other_patient_client, prescription, other_prescription
):
    mine = patient_client.post(SETS_URL, a_set(prescription), format="json").json()
    theirs = other_patient_client.post(SETS_URL, a_set(other_prescription), format="json").json()
    listed = other_patient_client.get(SETS_URL).json()
    assert [s["id"] for s in listed["results"]] == [theirs["id"]]
    assert listed["count"] == 1
    assert mine["id"] not in {s["id"] for s in listed["results"]}


def test_another_patient_never_sees_the_patients_plan_or_progress(
    other_patient_client, prescription, other_prescription
):
    plan = other_patient_client.get("/api/v1/me/plan/").json()
    ids = {side["prescription"]["id"] for side in plan["sides"] if side["prescription"]}
    assert ids == {other_prescription.pk}
    progress = other_patient_client.get("/api/v1/me/progress/").json()
    left = next(side for side in progress["sides"] if side["side"] == "left")
    assert [h["reason"] for h in left["history"]] == ["start"]  # their own start only


def test_logging_against_another_patients_prescription_looks_exactly_like_a_missing_one(
    other_patient_client, prescription
):
    before = stored()
    theirs = other_patient_client.post(SETS_URL, a_set(prescription), format="json")
    missing = other_patient_client.post(
        SETS_URL, a_set(prescription, prescription=prescription.pk + 10_000), format="json"
    )
    assert_error(theirs, 404, "not_found")
    assert theirs.json() == missing.json()
    assert stored() == before


def test_a_batch_item_for_another_patients_prescription_is_rejected_as_not_found(
    other_patient_client, prescription
):
    response = other_patient_client.post(BATCH_URL, {"sets": [a_set(prescription)]}, format="json")
    result = response.json()["results"][0]
    assert (result["status"], result["http_status"]) == ("rejected", 404)
    assert result["error"]["code"] == "not_found"
    assert not SetLog.objects.exists()


def test_the_same_client_id_is_independent_per_patient(
    patient_client, other_patient_client, prescription, other_prescription
):
    mine = a_set(prescription)
    theirs = a_set(other_prescription, client_id=mine["client_id"])
    assert patient_client.post(SETS_URL, mine, format="json").status_code == 201
    # Not a replay and not a conflict: another patient's key space.
    assert other_patient_client.post(SETS_URL, theirs, format="json").status_code == 201


# -- accounts that may no longer use the API ---------------------------------------------------


def test_a_discharged_patient_is_told_their_programme_has_ended(
    patient_client, patient, therapist, prescription
):
    patient_discharge(patient=patient, by=therapist, at=timezone.now())
    # Discharge revokes the token (tests/security/test_tokens.py); one issued afterwards (the
    # patient signs in again) still reaches nothing.
    patient_client = client_for(patient.user)
    for url in ["/api/v1/me/", "/api/v1/me/plan/", SETS_URL]:
        error = assert_error(patient_client.get(url), 403, "permission_denied")
        assert "discharged" in error["message"]
    before = stored()
    error = assert_error(patient_client.post(SETS_URL, a_set(prescription), format="json"), 403)
    assert "discharged" in error["message"]
    assert stored() == before


def test_an_inactive_users_token_is_refused(patient_client, patient, prescription):
    patient.user.is_active = False
    patient.user.save()
    assert_error(patient_client.get("/api/v1/me/"), 401, "authentication_failed")
    before = stored()
    assert_error(patient_client.post(SETS_URL, a_set(prescription), format="json"), 401)
    assert stored() == before


@pytest.mark.parametrize(
    "header",
    [
        "Token 0000000000000000000000000000000000000000",
        "Token",
        "Token two words",
        "Bearer abc",
    ],
)
def test_a_bad_authorization_header_is_refused(prescription, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/v1/me/"), 401)
