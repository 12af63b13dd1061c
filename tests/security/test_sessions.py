"""Web sessions end after 30 minutes without activity, or a working day after sign-in; the person
lands on the sign-in page with a message. The last-seen time is written at most once a minute.

Time travel: the clock (`django.utils.timezone.now`) is moved forward, or the session's stored
times moved back; the middleware reads both.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.serving.middleware import LAST_SEEN, SIGNED_IN_AT
from tests.factories import PASSWORD


@pytest.fixture
def signed_in(client, therapist):
    client.force_login(therapist)
    assert client.get(reverse("dashboard")).status_code == 200  # stamps the session
    return client


@pytest.fixture
def travel(monkeypatch):
    """Move the clock forward by a timedelta."""
    real_now = timezone.now

    def to(delta: dt.timedelta) -> None:
        monkeypatch.setattr(timezone, "now", lambda: real_now() + delta)

    return to


def shift(client, **seconds_back: int) -> None:
    """Move the session's stored times into the past."""
    session = client.session
    for key, seconds in seconds_back.items():
        session[key] -= seconds
    session.save()


def assert_signed_out_with(client, response, message):
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert message in page


def test_the_configured_defaults():
    from clinic import settings as configured

    assert configured.SESSION_COOKIE_AGE == 10 * 60 * 60
    assert configured.SESSION_IDLE_TIMEOUT == 30 * 60
    # Not Django's save-every-request: that writes the session row on every page view.
    assert not getattr(configured, "SESSION_SAVE_EVERY_REQUEST", False)


def test_thirty_idle_minutes_sign_you_out(signed_in, travel):
    travel(dt.timedelta(minutes=31))
    response = signed_in.get(reverse("dashboard"))
    assert_signed_out_with(
        signed_in, response, "You were signed out after 30 minutes without activity."
    )


def test_activity_keeps_the_session_alive(signed_in, travel):
    for minutes in (20, 40, 60):  # never 30 minutes apart, an hour in all
        travel(dt.timedelta(minutes=minutes))
        assert signed_in.get(reverse("dashboard")).status_code == 200


def test_a_session_ends_a_working_day_after_sign_in_however_busy(signed_in):
    shift(signed_in, **{SIGNED_IN_AT: 10 * 60 * 60 + 1})
    response = signed_in.get(reverse("dashboard"))
    assert_signed_out_with(signed_in, response, "You were signed out 10 hours after signing in.")


def test_just_inside_both_limits_the_session_goes_on(signed_in):
    shift(signed_in, **{SIGNED_IN_AT: 10 * 60 * 60 - 5, LAST_SEEN: 30 * 60 - 5})
    assert signed_in.get(reverse("dashboard")).status_code == 200


def test_the_idle_limit_comes_from_the_settings(signed_in, settings):
    settings.SESSION_IDLE_TIMEOUT = 5 * 60
    shift(signed_in, **{LAST_SEEN: 6 * 60})
    response = signed_in.get(reverse("dashboard"))
    assert_signed_out_with(
        signed_in, response, "You were signed out after 5 minutes without activity."
    )


def test_an_htmx_request_after_expiry_reloads_the_sign_in_page(signed_in):
    shift(signed_in, **{LAST_SEEN: 31 * 60})
    response = signed_in.get(reverse("dashboard"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("login")
    assert "_auth_user_id" not in signed_in.session


def test_an_expired_patient_session_is_refused_by_the_api_too(client, patient):
    client.force_login(patient.user)
    assert client.get("/api/v1/me/").status_code == 200
    shift(client, **{LAST_SEEN: 31 * 60})
    assert client.get("/api/v1/me/").status_code == 401


def test_the_last_seen_time_is_written_at_most_once_a_minute(signed_in, travel):
    def session_writes() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get(reverse("dashboard")).status_code == 200
        return sum(
            1
            for q in queries
            if "django_session" in q["sql"] and q["sql"].lstrip().upper().startswith("UPDATE")
        )

    travel(dt.timedelta(seconds=30))
    assert session_writes() == 0
    travel(dt.timedelta(seconds=61))
    assert session_writes() == 1


def test_signing_in_again_starts_a_new_working_day(client, therapist):
    client.post(reverse("login"), {"username": "thera", "password": PASSWORD})
    shift(client, **{SIGNED_IN_AT: 9 * 60 * 60})

    client.post(reverse("login"), {"username": "thera", "password": PASSWORD})

    now = int(timezone.now().timestamp())
    assert now - client.session[SIGNED_IN_AT] < 60


def test_the_sign_in_stamps_the_session_it_creates(client, therapist):
    response = client.post(reverse("login"), {"username": "thera", "password": PASSWORD})
    assert response.status_code == 302
    session = client.session
    assert session[SIGNED_IN_AT] == session[LAST_SEEN]


def test_anonymous_visitors_get_no_session_written(client, db):
    client.get(reverse("login"))
    assert SIGNED_IN_AT not in client.session
