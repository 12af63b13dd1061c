"""Strong passwords: at least 12 characters, not a common password, not all digits, not like the
username; checked everywhere a password is set, with a message next to the field that names why.

The places: the patient login page (a therapist sets the patient's first password), the admin's
add-user and change-password forms, the signed-in user's own password change page, and
`manage.py changepassword`. (`seed_demo --password` sets the demo's shared, public password, and
refuses to run with DEBUG off.)
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from patients.services import patient_login_create
from tests.factories import PASSWORD, PatientFactory, UserFactory

User = get_user_model()

TOO_SHORT = "kettle-lamp"  # 11 characters, nothing else wrong with it
STRONG = "pink kettle lamp"
SHORT_MESSAGE = "This password is too short. It must contain at least 12 characters."


def messages_for(password: str, user=None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return exc.messages
    return []


def test_the_policy():
    assert messages_for(TOO_SHORT) == [SHORT_MESSAGE]
    assert messages_for("password1234") == ["This password is too common."]
    assert "This password is entirely numeric." in messages_for("482019573310")
    assert messages_for(STRONG) == []
    assert messages_for("pink kettle lamp", User(username="pinkkettlelamp")) == [
        "The password is too similar to the username."
    ]


def test_the_test_suites_own_password_passes_the_policy():
    assert messages_for(PASSWORD) == []


# -- the patient login page -----------------------------------------------------------------------


@pytest.fixture
def newcomer(clinic, therapist):
    return PatientFactory(clinic=clinic, primary_therapist=therapist, first_name="Lena")


def test_the_patient_login_page_refuses_a_short_password_next_to_the_field(
    client, therapist, newcomer
):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {"username": "lena", "password": TOO_SHORT, "password_confirm": TOO_SHORT},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [SHORT_MESSAGE]
    assert not User.objects.filter(username="lena").exists()


def test_the_patient_login_page_accepts_a_passphrase(client, therapist, newcomer):
    client.force_login(therapist)
    client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {"username": "lena", "password": STRONG, "password_confirm": STRONG},
    )
    assert User.objects.get(username="lena").check_password(STRONG)


def test_the_service_refuses_it_whoever_calls_it(newcomer):
    with pytest.raises(ValidationError) as refused:
        patient_login_create(patient=newcomer, username="lena", password=TOO_SHORT)
    assert refused.value.message_dict == {"password": [SHORT_MESSAGE]}
    assert not User.objects.filter(username="lena").exists()


# -- the admin ------------------------------------------------------------------------------------


def test_the_admin_add_user_form_refuses_a_short_password(admin_client):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newstaff",
            "usable_password": "true",
            "password1": TOO_SHORT,
            "password2": TOO_SHORT,
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["password2"] == [SHORT_MESSAGE]
    assert not User.objects.filter(username="newstaff").exists()


def test_the_admin_change_password_form_refuses_a_short_password(admin_client, therapist):
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[therapist.pk]),
        {"password1": TOO_SHORT, "password2": TOO_SHORT, "usable_password": "true"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password2"] == [SHORT_MESSAGE]
    therapist.refresh_from_db()
    assert therapist.check_password(PASSWORD)


# -- the user's own password change, and the command line -----------------------------------------


def test_the_password_change_page_refuses_a_short_password(client, therapist):
    client.force_login(therapist)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": TOO_SHORT, "new_password2": TOO_SHORT},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"] == [SHORT_MESSAGE]
    therapist.refresh_from_db()
    assert therapist.check_password(PASSWORD)


def test_changepassword_refuses_a_short_password(monkeypatch, db, capsys):
    user = UserFactory(username="root")
    monkeypatch.setattr(
        "django.contrib.auth.management.commands.changepassword.getpass.getpass",
        lambda prompt="": TOO_SHORT,
    )
    with pytest.raises(CommandError, match="after 3 attempts"):
        call_command("changepassword", "root")
    assert SHORT_MESSAGE in capsys.readouterr().err
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
