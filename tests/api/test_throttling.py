"""Throttles: sign-in per address and per username, writes per patient. 429, Retry-After, one shape.

DRF reads the rates into `SimpleRateThrottle.THROTTLE_RATES` when it is imported, so the tests
lower them there (the `settings` fixture would come too late)."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.api.helpers import BATCH_URL, SETS_URL, TOKEN_URL, a_set, assert_error, stored


@pytest.fixture
def rates(monkeypatch):
    def set_rates(**rates):
        current = dict(SimpleRateThrottle.THROTTLE_RATES)
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**current, **rates})

    return set_rates


def sign_in(username, password="wrong", address="203.0.113.7"):
    return APIClient(REMOTE_ADDR=address).post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )


def assert_throttled(response):
    error = assert_error(response, 429, "throttled")
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    assert f"wait {wait} seconds" in error["message"]
    return error


def test_sign_in_is_throttled_per_address(rates, patient):
    rates(sign_in_address="3/min", sign_in_username="100/min")
    for name in ["a", "b", "c"]:
        assert sign_in(name).status_code == 400

    assert_throttled(sign_in("maya", password="correct-horse-battery"))
    # Another address is not affected.
    assert (
        sign_in("maya", password="correct-horse-battery", address="198.51.100.2").status_code == 200
    )


def test_sign_in_is_throttled_per_username_whatever_the_address(rates, patient):
    rates(sign_in_address="100/min", sign_in_username="2/min")
    assert sign_in("maya", address="203.0.113.1").status_code == 400
    assert sign_in("Maya ", address="203.0.113.2").status_code == 400  # the same account

    assert_throttled(sign_in("maya", password="correct-horse-battery", address="203.0.113.3"))
    # Another account from the same addresses is not affected.
    assert sign_in("omar", address="203.0.113.3").status_code == 400


def test_a_throttled_sign_in_gives_no_token_even_with_the_right_password(rates, patient):
    rates(sign_in_address="1/min")
    sign_in("maya")
    assert_throttled(sign_in("maya", password="correct-horse-battery"))
    assert not Token.objects.exists()


def test_writes_are_throttled_per_patient(
    rates, patient_client, other_patient_client, prescription, other_prescription
):
    rates(writes="2/min")
    assert patient_client.post(SETS_URL, a_set(prescription), format="json").status_code == 201
    batch = {"sets": [a_set(prescription)]}
    assert patient_client.post(BATCH_URL, batch, format="json").status_code == 200
    before = stored()

    assert_throttled(patient_client.post(SETS_URL, a_set(prescription), format="json"))
    assert_throttled(patient_client.post(BATCH_URL, batch, format="json"))

    assert stored() == before
    # Reading is not a write, and another patient has their own allowance.
    assert patient_client.get(SETS_URL).status_code == 200
    assert (
        other_patient_client.post(SETS_URL, a_set(other_prescription), format="json").status_code
        == 201
    )


def test_the_default_rates_are_set(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {"sign_in_address", "sign_in_username", "writes"}
    assert rates == SimpleRateThrottle.THROTTLE_RATES
