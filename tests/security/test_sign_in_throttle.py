"""The per-minute sign-in limits, keyed as Django keys a username, and on the admin's sign-in too.

Django normalises a typed username (NFKC), so `maya` typed in full-width letters (U+FF4D…) signs in as `maya`:
the per-username limit counts the normalised, case-folded name, else each variant would bring ten
more guesses a minute. The admin's sign-in has the sign-in page's limits (per username and per
address), counted together with it, and the same answer. DRF reads the rates when it is imported,
so the tests lower them on `SimpleRateThrottle` (the `settings` fixture would come too late).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from exercises.api.throttles import username_key
from tests.api.helpers import TOKEN_URL, assert_error
from tests.factories import PASSWORD, UserFactory


def full_width(text: str) -> str:
    """`maya` typed in full-width letters (U+FF41…), as an East Asian keyboard may send it."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.fixture
def rates(monkeypatch):
    def set_rates(**rates):
        current = {**SimpleRateThrottle.THROTTLE_RATES, "sign_in_address": "1000/min"}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**current, **rates})

    return set_rates


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def post(path, username, password="wrong-password", address="203.0.113.7"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": username, "password": password})


def assert_throttled_page(client, response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    assert f"Too many sign-in attempts. Wait {wait} seconds and try again." in response.text
    assert "_auth_user_id" not in client.session  # even the right password is not tried


def test_the_key_is_the_username_as_django_normalises_it_and_case_folded():
    assert username_key(full_width("Maya")) == username_key(" MAYA ") == "maya"
    assert username_key("Straße") == username_key("STRASSE")
    assert username_key("maya") != username_key("omar")


def test_a_full_width_username_signs_in_as_the_account(client, patient):
    """Why the key must be normalised: Django's sign-in form turns it into `maya`."""
    response = client.post(reverse("login"), {"username": full_width("maya"), "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(patient.user.pk)


def test_a_full_width_variant_counts_against_the_same_limit_on_the_sign_in_page(rates, patient):
    rates(sign_in_username="3/min")
    for username in ("maya", full_width("maya"), full_width("MAYA")):
        assert post(reverse("login"), username)[1].status_code == 200  # the form, refused

    client, response = post(reverse("login"), full_width("Maya"), PASSWORD, "198.51.100.2")

    assert_throttled_page(client, response)
    # Another account is not affected.
    assert post(reverse("login"), "omar")[1].status_code == 200


def test_a_full_width_variant_counts_against_the_same_limit_on_the_token_endpoint(rates, patient):
    rates(sign_in_username="2/min")
    api = APIClient(REMOTE_ADDR="203.0.113.7")
    for username in ("maya", full_width("Maya")):
        response = api.post(TOKEN_URL, {"username": username, "password": "x"}, format="json")
        assert response.status_code == 400

    response = api.post(
        TOKEN_URL, {"username": full_width("MAYA"), "password": PASSWORD}, format="json"
    )

    assert_error(response, 429, "throttled")


def test_the_admin_sign_in_is_throttled_per_username(rates, root):
    rates(sign_in_username="2/min")
    admin_login = reverse("admin:login")
    for address in ("203.0.113.1", "203.0.113.2"):
        assert post(admin_login, "root", address=address)[1].status_code == 200

    client, response = post(admin_login, full_width("root"), PASSWORD, "203.0.113.3")

    assert_throttled_page(client, response)  # the sign-in page's answer, as for a lockout


def test_the_admin_sign_in_is_throttled_per_address(rates, root):
    rates(sign_in_address="2/min")
    admin_login = reverse("admin:login")
    for username in ("a", "b"):
        assert post(admin_login, username)[1].status_code == 200

    client, response = post(admin_login, "root", PASSWORD)

    assert_throttled_page(client, response)
    # Another address is not affected.
    assert post(admin_login, "root", PASSWORD, "198.51.100.2")[1].status_code == 302


def test_the_admin_and_the_sign_in_page_count_together(rates, root):
    rates(sign_in_username="2/min")
    post(reverse("login"), "root")
    post(reverse("admin:login"), "root")

    assert_throttled_page(*post(reverse("login"), "root", PASSWORD))
    assert_throttled_page(*post(reverse("admin:login"), "root", PASSWORD))


def test_a_normal_sign_in_still_works_on_both_pages(root, therapist):
    client, response = post(reverse("admin:login"), "root", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(root.pk)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:login")).status_code == 302  # signed in already

    client, response = post(reverse("login"), therapist.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(therapist.pk)


def test_the_admin_sign_in_page_still_shows_its_form(client, db):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert 'name="username"' in response.text
    assert response["Cache-Control"].startswith("max-age=0")  # never cached, as before


def test_the_lockout_still_locks_the_admin_sign_in_under_the_default_rates(settings, root):
    """The throttle comes first only once its limit is spent; below it, axes counts and locks."""
    settings.AXES_FAILURE_LIMIT = 3
    admin_login = reverse("admin:login")
    for _ in range(2):
        assert post(admin_login, "root")[1].status_code == 200

    _, response = post(admin_login, full_width("root"))

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text
    assert int(response["Retry-After"]) == 15 * 60
    assert post(admin_login, "root", PASSWORD)[1].status_code == 429  # locked, right password
