"""Sign-in lands each role on its own page; the start pages refuse other roles and anonymous users."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory


def login(client, user):
    response = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD}, follow=False
    )
    assert response.status_code == 302, response.content
    return client.get(response["Location"])


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content


@pytest.mark.django_db
def test_wrong_password_is_refused_with_a_message(client, therapist):
    response = client.post(reverse("login"), {"username": "thera", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert "_auth_user_id" not in client.session


def test_therapist_lands_on_the_dashboard(client, therapist):
    response = login(client, therapist)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_staff_lands_on_reports(client, staff):
    response = login(client, staff)
    assert response["Location"] == reverse("reports")


def test_patient_lands_on_my_exercises(client, patient):
    response = login(client, patient.user)
    assert response["Location"] == reverse("me")


@pytest.mark.django_db
def test_user_without_a_role_is_told_what_to_do(client):
    user = UserFactory(username="nobody")
    response = login(client, user)
    assert response.status_code == 403
    assert b"no clinic role" in response.content


@pytest.mark.django_db
def test_logout_signs_out(client, therapist):
    client.force_login(therapist)
    response = client.post(reverse("logout"))
    assert response.status_code in (200, 302)
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["dashboard", "reports", "me", "home"])
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "name", "status"),
    [
        ("therapist", "dashboard", 200),
        ("therapist", "reports", 200),
        ("therapist", "me", 403),
        ("staff", "dashboard", 403),
        ("staff", "reports", 200),
        ("staff", "me", 403),
        ("patient", "dashboard", 403),
        ("patient", "reports", 403),
        ("patient", "me", 200),
        ("outsider", "dashboard", 200),
        ("outsider", "me", 403),
    ],
)
def test_start_pages_are_for_their_role_only(client, request, who, name, status):
    user = request.getfixturevalue(who)
    client.force_login(user.user if who == "patient" else user)
    assert client.get(reverse(name)).status_code == status


def test_dashboard_shows_only_the_own_clinics_patients(client, therapist, patient, outsider):
    client.force_login(outsider)
    response = client.get(reverse("dashboard"))
    assert patient.record_number.encode() not in response.content
    client.force_login(therapist)
    response = client.get(reverse("dashboard"))
    assert patient.record_number.encode() in response.content


def test_dashboard_query_count_does_not_grow_with_the_caseload(
    client, therapist, clinic, django_assert_max_num_queries
):
    from tests.factories import PatientFactory

    client.force_login(therapist)
    PatientFactory.create_batch(2, clinic=clinic, primary_therapist=therapist)
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("dashboard"))
    PatientFactory.create_batch(10, clinic=clinic, primary_therapist=therapist)
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("dashboard"))


def test_the_web_sign_in_is_limited_per_username_like_the_api(client, therapist, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "sign_in_username": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    for attempt in range(3):
        response = client.post(
            reverse("login"), {"username": "thera", "password": f"guess{attempt}"}
        )
        assert response.status_code == 200
    response = client.post(reverse("login"), {"username": "thera", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session  # even the right password is not tried


def test_the_web_sign_in_is_limited_per_address(client, therapist, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "sign_in_address": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    for name in ("a", "b"):
        client.post(reverse("login"), {"username": name, "password": "x"})
    assert client.post(reverse("login"), {"username": "c", "password": "x"}).status_code == 429
