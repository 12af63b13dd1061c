"""Token sign-in (POST auth/token/) and sign-out (DELETE auth/token/)."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises.services import patient_discharge
from tests.api.helpers import TOKEN_URL, assert_error, client_for
from tests.factories import PASSWORD


def sign_in(client, username, password=PASSWORD):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_good_credentials_get_a_token_that_works(anonymous, patient):
    response = sign_in(anonymous, "maya")

    assert response.status_code == 200, response.content
    key = response.json()["token"]
    assert response.json() == {"token": key}
    assert Token.objects.get(user=patient.user).key == key
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anonymous.get("/api/v1/me/").json()["id"] == patient.pk


def test_signing_in_again_gives_the_same_token(anonymous, patient):
    # A second phone of the same patient keeps working after the first signs in again.
    assert sign_in(anonymous, "maya").json() == sign_in(anonymous, "maya").json()
    assert Token.objects.filter(user=patient.user).count() == 1


def test_a_wrong_password_is_refused(anonymous, patient):
    error = assert_error(sign_in(anonymous, "maya", "wrong"), 400, "invalid_credentials")
    assert error["message"] == "Username or password is incorrect."
    assert not Token.objects.exists()


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(anonymous, patient):
    unknown = sign_in(anonymous, "nobody")
    wrong = sign_in(anonymous, "maya", "wrong")
    assert_error(unknown, 400, "invalid_credentials")
    assert unknown.json() == wrong.json()


def test_an_inactive_user_cannot_sign_in(anonymous, patient):
    patient.user.is_active = False
    patient.user.save()
    assert_error(sign_in(anonymous, "maya"), 400, "invalid_credentials")
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "maya"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "maya", "password": PASSWORD, "remember": True}, "remember"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "maya", "password": ""}, "password"),
    ],
)
def test_bad_sign_in_input_names_the_field(anonymous, patient, body, field):
    error = assert_error(anonymous.post(TOKEN_URL, body, format="json"), 400, "invalid")
    assert field in error["fields"]
    assert not Token.objects.exists()


def test_signing_out_revokes_the_token(patient_client, patient):
    assert patient_client.get("/api/v1/me/").status_code == 200

    response = patient_client.delete(TOKEN_URL)

    assert response.status_code == 204
    assert not Token.objects.filter(user=patient.user).exists()
    assert_error(patient_client.get("/api/v1/me/"), 401, "authentication_failed")
    assert_error(patient_client.delete(TOKEN_URL), 401)


def test_signing_out_leaves_other_users_signed_in(patient_client, other_patient_client):
    patient_client.delete(TOKEN_URL)
    assert other_patient_client.get("/api/v1/me/").status_code == 200


def test_signing_in_while_sending_a_revoked_token_works(patient_client, patient):
    # The app still sends the old header after signing out: signing in must not fail on it.
    patient_client.delete(TOKEN_URL)

    response = sign_in(patient_client, "maya")

    assert response.status_code == 200, response.content
    new_key = response.json()["token"]
    patient_client.credentials(HTTP_AUTHORIZATION=f"Token {new_key}")
    assert patient_client.get("/api/v1/me/").status_code == 200


def test_signing_in_while_sending_garbage_in_the_header_works(patient):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not a token")
    assert sign_in(client, "maya").status_code == 200


def test_a_therapist_can_sign_in_but_not_use_me(anonymous, therapist):
    key = sign_in(anonymous, "thera").json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert_error(anonymous.get("/api/v1/me/"), 403, "permission_denied")


def test_a_discharged_patients_token_is_already_revoked(patient_client, patient, therapist):
    # Discharge revokes the token (tests/security/test_tokens.py): signing out has nothing to do.
    patient_discharge(patient=patient, by=therapist)
    assert_error(patient_client.delete(TOKEN_URL), 401, "authentication_failed")


def test_sign_in_never_sets_a_session(anonymous, patient):
    sign_in(anonymous, "maya")
    assert "sessionid" not in anonymous.cookies


def test_a_token_from_sign_in_can_be_used_by_a_fresh_client(anonymous, patient):
    key = sign_in(anonymous, "maya").json()["token"]
    fresh = client_for(None)
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert fresh.get("/api/v1/me/plan/").status_code == 200


def test_a_form_encoded_sign_in_is_unsupported(anonymous, patient):
    response = anonymous.post(TOKEN_URL, {"username": "maya", "password": PASSWORD})
    assert_error(response, 415, "unsupported_media_type")
    assert not Token.objects.exists()


@pytest.mark.parametrize("body", [["maya", PASSWORD], "maya", None])
def test_a_sign_in_body_that_is_not_an_object_is_refused(anonymous, patient, body):
    assert_error(anonymous.post(TOKEN_URL, body, format="json"), 400, "invalid")
    assert not Token.objects.exists()
