"""API tokens are revoked when their patient is discharged or their login disabled (the patient
login page, the admin's user form); the old token then gets 401 with a message saying why.

Disabling and enabling a login on the patient login page is for the clinic's therapists only.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from exercises.services import patient_discharge
from patients.services import patient_login_set_active
from tests.api.helpers import TOKEN_URL, assert_error, client_for
from tests.factories import PASSWORD, PatientFactory

ME = "/api/v1/me/"


def assert_revoked(client):
    error = assert_error(client.get(ME), 401, "authentication_failed")
    assert "revoked" in error["message"]
    assert "Sign in again" in error["message"]


def login_page(patient):
    return reverse("patient-login", args=[patient.pk])


@pytest.fixture
def phone(patient):
    client = client_for(patient.user)
    assert client.get(ME).status_code == 200
    return client


@pytest.fixture
def other_phone(other_patient):
    return client_for(other_patient.user)


# -- discharge ------------------------------------------------------------------------------------


def test_discharge_revokes_the_patients_token(phone, other_phone, patient, therapist):
    patient_discharge(patient=patient, by=therapist)

    assert not Token.objects.filter(user=patient.user).exists()
    assert_revoked(phone)
    assert other_phone.get(ME).status_code == 200  # nobody else is signed out


def test_after_discharge_a_new_token_still_reaches_nothing(phone, patient, therapist):
    patient_discharge(patient=patient, by=therapist)
    key = phone.post(TOKEN_URL, {"username": "maya", "password": PASSWORD}, format="json")
    phone.credentials(HTTP_AUTHORIZATION=f"Token {key.json()['token']}")
    error = assert_error(phone.get(ME), 403, "permission_denied")
    assert "discharged" in error["message"]


def test_the_admins_discharge_action_revokes_too(admin_client, phone, patient):
    response = admin_client.post(
        reverse("admin:patients_patient_changelist"),
        {"action": "discharge", "_selected_action": [patient.pk]},
    )
    assert response.status_code == 302
    assert_revoked(phone)


# -- the patient login page -----------------------------------------------------------------------


def test_a_therapist_disables_a_login_and_the_phone_is_signed_out(
    client, therapist, patient, phone
):
    web = Client()
    web.force_login(patient.user)
    client.force_login(therapist)

    response = client.post(login_page(patient), {"active": "0"}, follow=True)

    assert "Maya Lindqvist&#x27;s login is disabled" in response.content.decode()
    patient.user.refresh_from_db()
    assert not patient.user.is_active
    assert_revoked(phone)
    # The web page signs them out at their next request, and they cannot sign in again.
    assert web.get(reverse("me")).status_code == 302
    signing_in = phone.post(TOKEN_URL, {"username": "maya", "password": PASSWORD}, format="json")
    assert_error(signing_in, 400, "invalid_credentials")


def test_the_login_page_shows_the_state_and_the_button(client, therapist, patient):
    client.force_login(therapist)
    assert "Disable the login" in client.get(login_page(patient)).content.decode()
    patient_login_set_active(patient=patient, active=False, by=therapist)
    page = client.get(login_page(patient)).content.decode()
    assert "(<strong>disabled</strong>)" in page
    assert "Enable the login" in page


def test_enabled_again_the_patient_signs_in_with_a_new_token(client, therapist, patient, phone):
    client.force_login(therapist)
    client.post(login_page(patient), {"active": "0"})

    response = client.post(login_page(patient), {"active": "1"}, follow=True)

    assert "Maya Lindqvist can sign in again" in response.content.decode()
    assert_revoked(phone)  # the old token stays revoked
    key = phone.post(TOKEN_URL, {"username": "maya", "password": PASSWORD}, format="json")
    assert key.status_code == 200
    phone.credentials(HTTP_AUTHORIZATION=f"Token {key.json()['token']}")
    assert phone.get(ME).status_code == 200


@pytest.mark.parametrize("value", ["", "yes", "2"])
def test_a_bad_value_is_refused_and_changes_nothing(client, therapist, patient, phone, value):
    client.force_login(therapist)
    response = client.post(login_page(patient), {"active": value})
    assert response.status_code == 400
    assert b"send 1 to enable the login or 0 to disable it" in response.content
    assert phone.get(ME).status_code == 200


def test_a_patient_without_a_login_gets_a_message(client, therapist, clinic):
    client.force_login(therapist)
    no_login = PatientFactory(clinic=clinic, first_name="Ana", last_name="Silva")
    response = client.post(login_page(no_login), {"active": "0"}, follow=True)
    assert "Ana Silva has no login to change." in response.content.decode()


@pytest.mark.parametrize(
    ("who", "status"),
    [("outsider", 404), ("staff", 403), ("other_patient", 404), ("patient", 404)],
)
def test_only_the_clinics_therapists_disable_a_login(client, request, patient, phone, who, status):
    user = request.getfixturevalue(who)
    client.force_login(getattr(user, "user", user))
    assert client.post(login_page(patient), {"active": "0"}).status_code == status
    patient.user.refresh_from_db()
    assert patient.user.is_active
    assert phone.get(ME).status_code == 200


def test_anonymous_is_sent_to_sign_in(client, patient, phone):
    response = client.post(login_page(patient), {"active": "0"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert phone.get(ME).status_code == 200


# -- the admin ------------------------------------------------------------------------------------


def test_unticking_active_in_the_admins_user_form_revokes_the_token(admin_client, patient, phone):
    user = patient.user
    url = reverse("admin:auth_user_change", args=[user.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data["is_active"] = ""
    data.pop("last_login", None)
    joined = user.date_joined
    data |= {"date_joined_0": joined.date().isoformat(), "date_joined_1": joined.strftime("%X")}

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not get_user_model().objects.get(pk=user.pk).is_active
    assert_revoked(phone)


def test_saving_an_active_user_keeps_their_token(patient, phone):
    patient.user.first_name = "Maya"
    patient.user.save()
    assert phone.get(ME).status_code == 200


# -- a new password ---------------------------------------------------------------------------------

NEW_PASSWORD = "a-new-long-passphrase-42"


def test_a_new_password_revokes_the_token(patient, phone):
    # Whoever knew the old password may hold a token: a reset must shut them out too.
    patient.user.set_password(NEW_PASSWORD)
    patient.user.save()
    assert_revoked(phone)


def test_the_admins_password_form_revokes_the_token(admin_client, patient, phone):
    url = reverse("admin:auth_user_password_change", args=[patient.user.pk])
    response = admin_client.post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 302, response.context["form"].errors
    assert_revoked(phone)


def test_signing_in_again_does_not_revoke_the_other_devices_token(patient, phone):
    # Signing in writes last_login on the user; that is no new password.
    second = Client()
    response = second.post(
        TOKEN_URL,
        {"username": patient.user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert phone.get(ME).status_code == 200
