"""GET auth/check/: a phone app asks whether its token still works. It answers a patient in an
active programme with 204 and does no work beyond the token lookup; everyone else gets the same
answer as on `me/`."""

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from exercises.api.errors import is_transient
from exercises.services import patient_discharge
from tests.api.helpers import assert_error

CHECK_URL = "/api/v1/auth/check/"


def test_it_answers_204_to_a_patients_token(patient_client):
    response = patient_client.get(CHECK_URL)

    assert response.status_code == 204
    assert response.content == b""


def test_it_answers_each_patient_for_their_own_token(other_patient_client):
    assert other_patient_client.get(CHECK_URL).status_code == 204


def test_it_costs_one_query_the_token_lookup_and_starts_no_session(
    patient_client, django_assert_num_queries
):
    # The baseline of the API load benchmark: the token lookup (with user, patient and clinic) and
    # nothing else. A token request must not start a browser session either (a row written per
    # request, and a cookie a phone app would send back).
    for _ in range(2):
        with django_assert_num_queries(1):
            response = patient_client.get(CHECK_URL)
        assert response.status_code == 204
        assert "sessionid" not in response.cookies


def test_it_refuses_an_anonymous_caller_with_401_and_says_how_to_authenticate(anonymous):
    response = anonymous.get(CHECK_URL)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_it_refuses_an_unknown_token(db, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    error = assert_error(anonymous.get(CHECK_URL), 401, "authentication_failed")
    assert "sign in again" in error["message"].lower()


def test_it_refuses_a_token_after_sign_out(patient_client):
    assert patient_client.delete("/api/v1/auth/token/").status_code == 204

    assert_error(patient_client.get(CHECK_URL), 401, "authentication_failed")


@pytest.mark.parametrize("who", ["therapist_client", "staff_client", "outsider_client"])
def test_it_tells_a_therapist_or_staff_the_api_is_for_patients(request, who):
    client = request.getfixturevalue(who)

    error = assert_error(client.get(CHECK_URL), 403, "permission_denied")
    assert "for patients" in error["message"]


def test_it_refuses_a_discharged_patients_token(patient_client, patient, therapist):
    # Discharge revokes the patient's token: the app is told to sign in again, and cannot.
    patient_discharge(patient=patient, by=therapist, at=timezone.now())

    assert_error(patient_client.get(CHECK_URL), 401, "authentication_failed")


def test_it_refuses_other_methods(patient_client):
    assert_error(patient_client.post(CHECK_URL, {}, format="json"), 405)


# -- the database unreachable -----------------------------------------------------------------


def _connection_lost(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", CHECK_URL), ("get", "/api/v1/me/"), ("post", "/api/v1/me/sets/")],
)
def test_a_lost_database_connection_answers_a_clean_503_with_retry_after(
    patient_client, method, url
):
    # Every query fails as on a dropped connection (a restart, a failover); the app must learn to
    # retry rather than get Django's HTML 500 page.
    with connection.execute_wrapper(_connection_lost):
        response = getattr(patient_client, method)(url, {}, format="json")

    error = assert_error(response, 503, "service_unavailable")
    assert "try again" in error["message"]
    assert response["Retry-After"] == "1"


class _Cause(Exception):
    """What the database driver raised, as Django wraps it (`__cause__`)."""

    def __init__(self, **attributes):
        super().__init__("driver error")
        self.__dict__.update(attributes)


def _wrapped(**attributes) -> OperationalError:
    error = OperationalError("database error")
    error.__cause__ = _Cause(**attributes)
    return error


@pytest.mark.parametrize(
    ("attributes", "transient"),
    [
        ({"sqlite_errorname": "SQLITE_BUSY"}, True),
        ({"sqlite_errorname": "SQLITE_LOCKED_SHAREDCACHE"}, True),
        ({"sqlite_errorname": "SQLITE_ERROR"}, False),  # e.g. no such table: a missing migration
        ({"sqlite_errorname": "SQLITE_FULL"}, False),
        ({"sqlstate": None}, True),  # psycopg: the server never answered
        ({"sqlstate": "08006"}, True),
        ({"sqlstate": "57P01"}, True),  # the server is shutting down
        ({"sqlstate": "40P01"}, True),  # chosen as a deadlock victim
        ({"sqlstate": "53100"}, False),  # disk full
        ({"sqlstate": "42P01"}, False),  # undefined table (not an OperationalError in psycopg)
    ],
)
def test_only_errors_a_retry_can_cure_answer_503(attributes, transient):
    assert is_transient(_wrapped(**attributes)) is transient


def test_a_database_fault_that_no_retry_cures_stays_a_server_error(patient_client):
    # A missing table or a full disk must reach Django's 500 handling (and its alerting), not tell
    # every phone to retry in a second forever.
    def _disk_full(execute, sql, params, many, context):
        raise _wrapped(sqlstate="53100")

    with connection.execute_wrapper(_disk_full), pytest.raises(OperationalError):
        patient_client.get(CHECK_URL)
