"""Sign-in lockout (django-axes): per username and per address, on the web sign-in page, the admin's
sign-in and the token endpoint; a clear answer saying when it lifts; unlocking by an administrator.

The limit is lowered to 3 here (`settings` fixture; axes reads it on every attempt) so each test
needs only a few attempts; `test_the_configured_defaults` checks the real values. The per-minute
throttles are raised out of the way: they are tested in tests/api/test_throttling.py.
"""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from clinic import settings as settings_module
from patients.lockout import client_address
from tests.api.helpers import TOKEN_URL, assert_error
from tests.factories import PASSWORD, UserFactory

LIMIT = 3
HOME = "203.0.113.7"
ELSEWHERE = "198.51.100.2"


@pytest.fixture(autouse=True)
def lockout(settings, monkeypatch):
    settings.AXES_FAILURE_LIMIT = LIMIT
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "sign_in_address": "1000/min"}
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**rates, "sign_in_username": "1000/min"}
    )


def web_sign_in(username, password="wrong-password", address=HOME, path=None):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(
        path or reverse("login"), {"username": username, "password": password}
    )


def api_sign_in(username, password="wrong-password", address=HOME):
    return APIClient(REMOTE_ADDR=address).post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )


def fail(times, username, address=HOME, sign_in=web_sign_in):
    for _ in range(times):
        response = sign_in(username, address=address)
        response = response[1] if isinstance(response, tuple) else response
        assert response.status_code in (200, 400, 429), response.content


def assert_locked_page(response):
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "Try again in 15 minutes" in page
    assert "clinic&#x27;s administrator" in page or "clinic's administrator" in page
    assert int(response["Retry-After"]) == 15 * 60


def test_the_configured_defaults():
    configured = settings_module  # the module itself, not the test's lowered limit
    assert configured.AXES_FAILURE_LIMIT == 10
    assert configured.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert configured.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert configured.AXES_RESET_ON_SUCCESS is False
    assert configured.AUTHENTICATION_BACKENDS[0] == "patients.lockout.LockoutBackend"


# -- the web sign-in page -------------------------------------------------------------------------


def test_the_web_page_locks_a_username_even_with_the_right_password(therapist):
    fail(LIMIT - 1, "thera")
    client, response = web_sign_in("thera", PASSWORD)
    assert response.status_code == 302  # below the limit the right password still works

    fail(LIMIT, "thera", address=ELSEWHERE)
    client, response = web_sign_in("thera", PASSWORD, address="192.0.2.55")

    assert_locked_page(response)
    assert "_auth_user_id" not in client.session


def test_the_failure_that_reaches_the_limit_already_says_so(therapist):
    fail(LIMIT - 1, "thera")
    _, response = web_sign_in("thera")
    assert_locked_page(response)


def test_the_web_page_locks_an_address_that_tries_many_usernames(therapist, colleague):
    for name in ("anna", "ben", "carla"):
        web_sign_in(name)

    _, response = web_sign_in("colleague", PASSWORD)
    assert_locked_page(response)
    # The same account from another address is not locked.
    assert web_sign_in("colleague", PASSWORD, address=ELSEWHERE)[1].status_code == 302


def test_a_username_that_does_not_exist_locks_the_same_way(db):
    fail(LIMIT - 1, "ghost")
    _, response = web_sign_in("ghost")
    assert_locked_page(response)  # nothing tells an existing account from a made-up one


def test_attempts_while_locked_do_not_push_the_end_back(therapist):
    fail(LIMIT, "thera")
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14))

    _, response = web_sign_in("thera", PASSWORD)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "Try again in 1 minute." in response.content.decode()
    assert AccessAttempt.objects.get().failures_since_start == LIMIT


def test_the_lock_lifts_after_the_cool_off(therapist):
    fail(LIMIT, "thera")
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))

    assert web_sign_in("thera", PASSWORD)[1].status_code == 302


def test_signing_in_to_ones_own_account_does_not_wipe_the_count_against_another(
    therapist, colleague
):
    # Axes' reset-on-success would delete every failure from this address, theirs included.
    fail(LIMIT - 1, "colleague")
    assert web_sign_in("thera", PASSWORD)[1].status_code == 302

    _, response = web_sign_in("colleague")
    assert_locked_page(response)


def test_the_admin_sign_in_locks_too_with_the_same_message(db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    admin_login = reverse("admin:login")
    for _ in range(LIMIT - 1):
        web_sign_in("root", path=admin_login)

    _, response = web_sign_in("root", path=admin_login)

    assert_locked_page(response)  # the sign-in page's message, not the admin's bare refusal
    # One lock for the account: the sign-in page refuses it too.
    assert web_sign_in("root", PASSWORD)[1].status_code == 429


# -- the token endpoint ---------------------------------------------------------------------------


def test_the_token_endpoint_locks_a_username_with_a_clear_api_error(patient):
    fail(LIMIT, "maya", sign_in=lambda u, address: api_sign_in(u, address=address))

    response = api_sign_in("maya", PASSWORD, address=ELSEWHERE)

    error = assert_error(response, 429, "locked_out")
    assert int(response["Retry-After"]) == 15 * 60
    assert "Try again in 15 minutes" in error["message"]
    assert "administrator" in error["message"]
    assert not Token.objects.exists()


def test_the_token_endpoint_locks_an_address(patient, other_patient):
    for name in ("anna", "ben", "carla"):
        api_sign_in(name)

    assert_error(api_sign_in("omar", PASSWORD), 429, "locked_out")
    assert api_sign_in("omar", PASSWORD, address=ELSEWHERE).status_code == 200


def test_web_and_api_failures_count_together(patient):
    web_sign_in("maya")
    api_sign_in("maya")
    web_sign_in("maya")
    assert_error(api_sign_in("maya", PASSWORD, address=ELSEWHERE), 429, "locked_out")


def test_a_locked_out_phone_still_gets_the_error_shape_when_sending_an_old_token(patient):
    fail(LIMIT, "maya")
    client = APIClient(REMOTE_ADDR=ELSEWHERE)
    client.credentials(HTTP_AUTHORIZATION="Token revoked-long-ago")
    response = client.post(TOKEN_URL, {"username": "maya", "password": PASSWORD}, format="json")
    assert_error(response, 429, "locked_out")


# -- unlocking ------------------------------------------------------------------------------------


def test_an_administrator_unlocks_in_the_admin(admin_client, therapist):
    fail(LIMIT, "thera")
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin_client.get(changelist, {"locked_out": "yes"})
    assert page.status_code == 200
    assert "thera" in page.content.decode()

    attempt = AccessAttempt.objects.get(username="thera")
    response = admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert web_sign_in("thera", PASSWORD)[1].status_code == 302


@pytest.mark.parametrize("who", ["therapist", "staff", "patient"])
def test_only_administrators_see_the_lockouts(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user.user if who == "patient" else user)
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_axes_reset_username_unlocks_from_the_command_line(therapist, colleague):
    fail(LIMIT, "thera")
    fail(LIMIT, "colleague", address=ELSEWHERE)

    call_command("axes_reset_username", "thera")

    assert web_sign_in("thera", PASSWORD, address="192.0.2.1")[1].status_code == 302
    assert web_sign_in("colleague", PASSWORD, address="192.0.2.1")[1].status_code == 429


# -- the client's address -------------------------------------------------------------------------


def test_without_a_proxy_a_forged_forwarded_for_header_is_ignored(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    request = RequestFactory().post(
        "/", REMOTE_ADDR=HOME, HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.1"
    )
    assert client_address(request) == HOME


def test_behind_one_proxy_the_address_it_forwarded_is_used(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The client may put anything in front; the proxy appends the address it saw, last.
    request = RequestFactory().post(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.1"
    )
    assert client_address(request) == "192.0.2.1"


def test_behind_a_proxy_each_client_is_locked_on_its_own(settings, patient):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for name in ("anna", "ben", "carla"):
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=HOME).post(
            reverse("login"), {"username": name, "password": "wrong-password"}
        )

    other_client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE)
    response = other_client.post(reverse("login"), {"username": "maya", "password": PASSWORD})

    assert response.status_code == 302
    assert AccessAttempt.objects.filter(ip_address=HOME).count() == 3


@pytest.mark.parametrize(
    "variable",
    ["AXES_FAILURE_LIMIT", "AXES_COOLOFF_MINUTES", "SESSION_COOKIE_AGE", "SESSION_IDLE_TIMEOUT"],
)
def test_a_limit_of_zero_stops_the_app(monkeypatch, variable):
    monkeypatch.setenv(variable, "0")
    with pytest.raises(ImproperlyConfigured, match=f"{variable} must be a positive number"):
        runpy.run_path(str(Path(settings_module.__file__)))
