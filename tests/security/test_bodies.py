"""Malformed, hostile and oversized input gets a 4xx that says what is wrong, and writes nothing.

Never a 500: every write endpoint of the API (sign-in, a set, a batch) and every web form (patient
create and edit, patient login, set log, clearance, stage changes, void, "my exercises", sign-in)
is sent broken JSON, the wrong JSON types, deep nesting, bytes that are not UTF-8, NUL characters
(PostgreSQL refuses them in text), integers beyond any column, dates at the ends of the calendar,
very long strings, the wrong content type and a body over DATA_UPLOAD_MAX_MEMORY_SIZE. The NUL and
out-of-range cases matter most on PostgreSQL: run this file there too (`make test-postgres`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises.api.serializers import MAX_BATCH
from exercises.models import Prescription, SetLog, StageChange
from patients.models import ClearanceNote, Patient
from patients.thresholds import NOTE_MAX_LENGTH
from tests.api.helpers import (
    BATCH_URL,
    SETS_URL,
    TOKEN_URL,
    a_set,
    assert_error,
    client_for,
    start,
    stored,
)
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, UserFactory

NUL = "\x00"
HUGE = 10**30  # beyond any integer column (bigint ends at 2**63 - 1)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


def _case_id(case: Any) -> str:
    if isinstance(case, tuple):
        return f"{case[0]}={_short(case[1])}"
    if isinstance(case, dict):
        return ",".join(f"{k}={_short(v)}" for k, v in case.items())
    return _short(case)


def _everything() -> tuple[int, ...]:
    """Rows that a refused request must not have added to (with the audit history)."""
    return (
        *stored(),
        Patient.objects.count(),
        Patient.history.count(),
        Prescription.objects.count(),
        StageChange.objects.count(),
        ClearanceNote.objects.count(),
        Token.objects.count(),
    )


# -- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def bodies_rx(patient: Patient, therapist: Any) -> Prescription:
    return start(patient, therapist)


@pytest.fixture
def bodies_api(patient: Patient, bodies_rx: Prescription) -> APIClient:
    return client_for(patient.user)


def _post_raw(client: APIClient, url: str, body: bytes | str, content_type: str) -> Any:
    return client.generic("POST", url, body, content_type=content_type)


def _valid_body(url: str, rx: Prescription) -> dict[str, Any]:
    if url == TOKEN_URL:
        return {"username": "maya", "password": PASSWORD}
    if url == BATCH_URL:
        return {"sets": [a_set(rx)]}
    return a_set(rx)


WRITES = [TOKEN_URL, SETS_URL, BATCH_URL]

MALFORMED_JSON = [
    b'{"reps": 12,',
    b"{",
    b"{'reps': 12}",
    b'{"reps": NaN}',
    b'{"reps": Infinity}',
    b'{"reps": 12} trailing',
    b"\xef\xbb\xbf{}",  # a byte-order mark
]


@pytest.mark.parametrize("body", MALFORMED_JSON, ids=_case_id)
@pytest.mark.parametrize("url", WRITES)
def test_malformed_json_is_a_400(bodies_api: APIClient, url: str, body: bytes) -> None:
    before = _everything()
    error = assert_error(_post_raw(bodies_api, url, body, "application/json"), 400, "parse_error")
    assert "JSON" in error["message"]
    assert _everything() == before


@pytest.mark.parametrize("body", [[], "a set", None, 12, True, [{"reps": 12}]], ids=_case_id)
@pytest.mark.parametrize("url", WRITES)
def test_a_body_that_is_not_an_object_is_a_400(bodies_api: APIClient, url: str, body: Any) -> None:
    before = _everything()
    response = _post_raw(bodies_api, url, json.dumps(body), "application/json")
    error = assert_error(response, 400, "invalid")
    assert error["fields"], error
    assert _everything() == before


@pytest.mark.parametrize("url", WRITES)
def test_a_body_nested_thousands_deep_is_a_400(bodies_api: APIClient, url: str) -> None:
    # Python's JSON decoder recurses once per level: this deep, it raises RecursionError.
    depth = 100_000
    body = '{"note": ' + "[" * depth + "]" * depth + "}"
    before = _everything()
    assert_error(_post_raw(bodies_api, url, body, "application/json"), 400, "parse_error")
    assert _everything() == before


@pytest.mark.parametrize(
    "body",
    [b'{"note": "\xff\xfe"}', b'{"username": "ma\xc3ya"}', "{}".encode("utf-16")],
    ids=["latin-1 byte", "broken sequence", "utf-16"],
)
@pytest.mark.parametrize("url", WRITES)
def test_bytes_that_are_not_utf8_are_a_400(bodies_api: APIClient, url: str, body: bytes) -> None:
    before = _everything()
    assert_error(_post_raw(bodies_api, url, body, "application/json"), 400, "parse_error")
    assert _everything() == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
    ],
)
@pytest.mark.parametrize("url", WRITES)
def test_a_body_that_is_not_json_is_a_415(
    bodies_api: APIClient, bodies_rx: Prescription, url: str, content_type: str
) -> None:
    body = json.dumps(_valid_body(url, bodies_rx))
    before = _everything()
    assert_error(_post_raw(bodies_api, url, body, content_type), 415, "unsupported_media_type")
    assert _everything() == before


def test_a_charset_that_is_not_text_is_a_400(bodies_api: APIClient) -> None:
    # DRF refuses bytes-to-bytes codecs (bz2_codec would inflate a small body without bound).
    response = _post_raw(bodies_api, SETS_URL, b"{}", "application/json; charset=bz2_codec")
    assert_error(response, 400, "parse_error")


# Each case: the field it breaks and its bad value. Every one must be refused naming that field.
SET_FIELD_CASES = [
    ("note", "before" + NUL + "after"),
    ("note", NUL),
    ("note", "x" * (NOTE_MAX_LENGTH + 1)),
    ("note", "x" * 200_000),
    ("note", {"text": "Felt steady."}),
    ("note", ["Felt steady."]),
    ("client_id", NUL * 36),
    ("client_id", str(uuid.uuid4())[:-1] + NUL),
    ("client_id", "a" * 10_000),
    ("client_id", {"id": str(uuid.uuid4())}),
    ("reps", HUGE),
    ("reps", -HUGE),
    ("reps", 2**63),
    ("reps", 1e308),
    ("reps", "12"),
    ("reps", [12]),
    ("pain", 2**64),
    ("pain", {"value": 2}),
    ("effort", HUGE),
    ("prescription", HUGE),
    ("prescription", 2**63),
    ("prescription", -(2**63) - 1),
    ("prescription", 0),
    ("prescription", "1" + NUL),
    ("performed_at", "0001-01-01T00:00:00+14:00"),
    ("performed_at", "0001-01-01T00:00:00Z"),
    ("performed_at", "9999-12-31T23:59:59-14:00"),
    ("performed_at", "9999-12-31T23:59:59Z"),
    ("performed_at", "10000-01-01T00:00:00Z"),
    ("performed_at", "2026-02-30T07:30:00Z"),
    ("performed_at", "2026-11-24T24:00:00Z"),
    ("performed_at", "2026-11-24T07:30:00+24:00"),
    ("performed_at", "2026-11-24T07:30:00" + NUL),
    ("performed_at", "yesterday"),
    ("performed_at", 1764000000),
    ("performed_at", {"date": "2026-11-24"}),
]


@pytest.mark.parametrize("case", SET_FIELD_CASES, ids=_case_id)
def test_a_bad_field_of_a_set_is_a_400_naming_it(
    bodies_api: APIClient, bodies_rx: Prescription, case: tuple[str, Any]
) -> None:
    field, value = case
    before = _everything()
    response = bodies_api.post(SETS_URL, a_set(bodies_rx, **{field: value}), format="json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field], error
    assert _everything() == before


def test_each_bad_item_of_a_batch_is_rejected_naming_its_field_and_the_good_one_stored(
    bodies_api: APIClient, bodies_rx: Prescription
) -> None:
    bad = [a_set(bodies_rx, **{field: value}) for field, value in SET_FIELD_CASES]
    good = a_set(bodies_rx)
    response = bodies_api.post(BATCH_URL, {"sets": [*bad, good]}, format="json")
    assert response.status_code == 200, response.content[:500]
    *rejected, stored_one = response.json()["results"]
    for (field, value), result in zip(SET_FIELD_CASES, rejected, strict=True):
        assert result["status"] == "rejected", (field, value, result)
        assert list(result["error"]["fields"]) == [field], (field, value, result)
    assert stored_one["status"] == "created"
    assert SetLog.objects.get().client_id == uuid.UUID(good["client_id"])


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "maya" + NUL},
        {"password": PASSWORD + NUL},
        {"username": NUL},
        {"username": "m" * 100_000},
        {"password": "p" * 100_000},
        {"username": {"name": "maya"}},
        {"password": ["secret"]},
        {"username": 12},
        {"username": None},
        {"colour" + NUL: "blue"},
    ],
    ids=_case_id,
)
def test_a_bad_sign_in_field_is_a_400_naming_it(bodies_api: APIClient, fields: dict) -> None:
    body = {"username": "maya", "password": PASSWORD, **fields}
    before = _everything()
    error = assert_error(APIClient().post(TOKEN_URL, body, format="json"), 400, "invalid")
    assert list(error["fields"]) == list(fields), error
    assert _everything() == before


def test_an_unknown_field_with_a_nul_in_its_name_is_named(
    bodies_api: APIClient, bodies_rx: Prescription
) -> None:
    body = {**a_set(bodies_rx), "no" + NUL + "te": "x"}
    error = assert_error(bodies_api.post(SETS_URL, body, format="json"), 400, "invalid")
    assert list(error["fields"]) == ["no" + NUL + "te"]


@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "0001-01-01"},
        {"date_to": "9999-12-30"},
        {"date_from": "9999-12-31"},
        {"date_to": "0001-01-01"},
        {"date_from": "2026-02-30"},
        {"date_from": "2026-11-24" + NUL},
        {"side": "left" + NUL},
        {"page": str(HUGE)},
        {"page": NUL},
        {"page_size": str(HUGE)},
    ],
    ids=_case_id,
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_set_list_filters_never_fail_on_extreme_values(db: Any, zone: str, query: dict) -> None:
    # The calendar's ends in the zones furthest from UTC (+14 and -11): the UTC instant of a local
    # midnight falls outside what a datetime can hold.
    clinic = ClinicFactory(timezone=zone)
    patient = PatientFactory(clinic=clinic, user=UserFactory())
    response = client_for(patient.user).get(SETS_URL, query)
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        assert_error(response, response.status_code)


@pytest.mark.parametrize("pk", [str(HUGE), str(2**63), "-1", "1" + NUL, "%00", "1e3", " 1"])
def test_a_fhir_export_of_an_impossible_id_is_a_json_404(staff: Any, pk: str) -> None:
    response = client_for(staff).get(f"/api/v1/patients/{pk}/fhir/")
    assert_error(response, 404, "not_found")


# -- size ------------------------------------------------------------------------------------------


def test_the_upload_limit_is_set_deliberately() -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2 * 1024 * 1024


def _largest_batch(rx: Prescription) -> bytes:
    """The largest batch the API accepts, every note at its longest and written with the most
    bytes JSON allows (each character a \\u-escaped surrogate pair, as `ensure_ascii` writes
    emoji)."""
    now = timezone.now()
    sets = [
        a_set(
            rx,
            note="\U0001f9b5" * NOTE_MAX_LENGTH,
            performed_at=(now - dt.timedelta(minutes=i + 1)).isoformat(),
        )
        for i in range(MAX_BATCH)
    ]
    return json.dumps({"sets": sets}, ensure_ascii=True).encode()


def test_the_largest_valid_batch_fits_under_the_limit(
    bodies_api: APIClient, bodies_rx: Prescription
) -> None:
    body = _largest_batch(bodies_rx)
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = _post_raw(bodies_api, BATCH_URL, body, "application/json")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == MAX_BATCH


@pytest.mark.parametrize("url", WRITES)
def test_a_body_over_the_limit_is_a_413_in_the_error_shape(bodies_api: APIClient, url: str) -> None:
    padding = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"note": padding})
    before = _everything()
    error = assert_error(_post_raw(bodies_api, url, body, "application/json"), 413, "too_large")
    assert "MB" in error["message"]
    assert _everything() == before


def test_a_body_over_the_limit_is_a_413_whatever_its_content_type(bodies_api: APIClient) -> None:
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        response = _post_raw(bodies_api, SETS_URL, body, content_type)
        assert response.status_code in (413, 415), response.status_code
        assert_error(response, response.status_code)


# -- the web forms ---------------------------------------------------------------------------------


@pytest.fixture
def bodies_web(therapist: Any) -> Client:
    client = Client()
    client.force_login(therapist)
    return client


@pytest.fixture
def bodies_patient_web(patient: Patient, bodies_rx: Prescription) -> Client:
    client = Client()
    client.force_login(patient.user)
    return client


def _patient_form(**fields: Any) -> dict[str, Any]:
    return {
        "record_number": "MRN-NEW-1",
        "first_name": "Ada",
        "last_name": "Brennan",
        "date_of_birth": "1961-04-02",
        "affected_side": "left",
        "primary_therapist": "",
        **fields,
    }


BAD_TEXT = [
    "Ada" + NUL,
    NUL,
    "A" * 100_000,
]
BAD_DATES = ["9999-12-31", "10000-01-01", "2026-02-30", "1961-04-02" + NUL, "-1"]


def _web_cases() -> list[Any]:
    cases = []
    for value in BAD_TEXT:
        for name in ("first_name", "last_name", "record_number", "clearance_reason"):
            cases.append((name, value))
    for value in BAD_DATES:
        cases.append(("date_of_birth", value))
    cases += [("affected_side", "left" + NUL), ("primary_therapist", str(HUGE))]
    return cases


def _form_errors(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {name: list(errors) for name, errors in form.errors.items()}


@pytest.mark.parametrize("case", _web_cases(), ids=_case_id)
@pytest.mark.parametrize("action", ["create", "edit"])
def test_a_bad_patient_form_field_is_refused_on_the_form(
    bodies_web: Client, patient: Patient, action: str, case: tuple[str, Any]
) -> None:
    field, value = case
    url = "/patients/new/" if action == "create" else f"/patients/{patient.pk}/edit/"
    data = _patient_form(**{field: value})
    if field == "clearance_reason":
        data["requires_clearance"] = "on"
    before = _everything()
    response = bodies_web.post(url, data)
    assert response.status_code == 200, response.status_code
    errors = _form_errors(response)
    assert list(errors) == [field], errors
    assert _everything() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ada" + NUL},
        {"username": "a" * 100_000},
        {"password": "long-enough-pass" + NUL, "password_confirm": "long-enough-pass" + NUL},
    ],
    ids=_case_id,
)
def test_a_bad_patient_login_form_is_refused(
    bodies_web: Client, patient_requiring_clearance: Patient, fields: dict
) -> None:
    data = {
        "username": "ines.duarte",
        "password": "long-enough-pass",
        "password_confirm": "long-enough-pass",
        **fields,
    }
    before = _everything()
    response = bodies_web.post(f"/patients/{patient_requiring_clearance.pk}/login/", data)
    assert response.status_code == 200
    assert set(_form_errors(response)) <= set(fields) | {"password_confirm"}
    assert _form_errors(response)
    assert _everything() == before


def _patient_page_post(client: Client, patient: Patient, path: str, data: dict) -> Any:
    return client.post(f"/patients/{patient.pk}/{path}", data)


def _log_form(rx: Prescription, **fields: Any) -> dict[str, Any]:
    performed = timezone.localtime(timezone.now() - dt.timedelta(minutes=5))
    data = {
        "log-prescription": rx.pk,
        "log-reps": 12,
        "log-pain": 2,
        "log-effort": "",
        "log-performed_at": performed.strftime("%Y-%m-%dT%H:%M:%S"),
        "log-note": "",
        "log-client_id": str(uuid.uuid4()),
    }
    data.update({f"log-{k}": v for k, v in fields.items()})
    return data


@pytest.mark.parametrize(
    "fields",
    [
        {"note": "a" + NUL},
        {"note": "x" * 100_000},
        {"reps": HUGE},
        {"pain": -HUGE},
        {"effort": HUGE},
        {"prescription": HUGE},
        {"prescription": 2**63},
        {"prescription": NUL},
        {"client_id": NUL},
        {"performed_at": "0001-01-01T00:00:00"},
        {"performed_at": "9999-12-31T23:59:59"},
        {"performed_at": "2026-02-30T07:30:00"},
        {"performed_at": "2026-11-24T07:30:00" + NUL},
    ],
    ids=_case_id,
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_a_bad_set_logged_in_clinic_is_refused_on_the_form(
    bodies_web: Client, patient: Patient, bodies_rx: Prescription, zone: str, fields: dict
) -> None:
    # The clinic furthest ahead of and behind UTC: a local time at the calendar's ends has no
    # UTC instant a datetime can hold.
    patient.clinic.timezone = zone
    patient.clinic.save()
    before = _everything()
    response = _patient_page_post(bodies_web, patient, "sets/", _log_form(bodies_rx, **fields))
    assert response.status_code == 200, response.status_code
    assert response.context["log_form"].errors
    assert _everything() == before


def _clearance_form(**fields: Any) -> dict[str, Any]:
    data = {
        "decision": "cleared",
        "reason": "Pelvic fracture",
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD",
        "signed_on": timezone.localdate().isoformat(),
        "review_on": (timezone.localdate() + dt.timedelta(days=60)).isoformat(),
        "weight_bearing": "not_stated",
        "max_stage": "",
        "restrictions": "",
        **fields,
    }
    return {f"clearance-{k}": v for k, v in data.items()}


@pytest.mark.parametrize(
    "fields",
    [
        {"restrictions": "no running" + NUL},
        {"reason": NUL},
        {"signed_by_name": "x" * 100_000},
        {"signed_on": "9999-12-31", "review_on": "9999-12-31"},
        {"review_on": "10000-01-01"},
        {"signed_on": "2026-02-30"},
        {"review_on": "2026-11-24" + NUL},
        {"max_stage": str(HUGE)},
        {"decision": "cleared" + NUL},
        {"weight_bearing": NUL},
    ],
    ids=_case_id,
)
def test_a_bad_clearance_note_is_refused_on_the_form(
    bodies_web: Client, patient_requiring_clearance: Patient, fields: dict
) -> None:
    before = _everything()
    response = _patient_page_post(
        bodies_web, patient_requiring_clearance, "clearance/", _clearance_form(**fields)
    )
    assert response.status_code == 200, response.status_code
    assert response.context["clearance_form"].errors
    assert _everything() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"signed_on": "0001-01-01", "review_on": "0001-01-02"},
        {"signed_on": "0001-01-01", "review_on": "9999-12-31"},
        {"review_on": "9999-12-31"},
    ],
    ids=_case_id,
)
def test_a_clearance_note_at_the_ends_of_the_calendar_breaks_no_page(
    bodies_web: Client, patient_requiring_clearance: Patient, fields: dict
) -> None:
    """Dates a note may really carry (an "indefinite" review date written as 9999-12-31) are the
    clinic's to decide; whatever is stored, every page that reads it still works."""
    patient = patient_requiring_clearance
    response = _patient_page_post(bodies_web, patient, "clearance/", _clearance_form(**fields))
    assert response.status_code in (200, 302)
    for url in (
        f"/patients/{patient.pk}/",
        f"/patients/{patient.pk}/history/",
        f"/reports/patients/{patient.pk}/",
        "/dashboard/",
        "/reports/",
    ):
        assert bodies_web.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("advance", {"change-left-note": "why" + NUL}),
        ("regress", {"change-left-note": "x" * 100_000}),
        ("stop", {"change-left-note": NUL}),
    ],
)
def test_a_bad_stage_change_note_is_refused(
    bodies_web: Client, patient: Patient, bodies_rx: Prescription, action: str, data: dict
) -> None:
    before = _everything()
    response = _patient_page_post(
        bodies_web, patient, f"prescriptions/{bodies_rx.pk}/{action}/", data
    )
    assert response.status_code == 200
    assert _everything() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"stage": str(HUGE)},
        {"target_sets": str(HUGE)},
        {"progress_at_reps": str(-HUGE)},
        {"notes": "careful" + NUL},
    ],
    ids=_case_id,
)
def test_a_bad_prescription_start_is_refused(
    bodies_web: Client, patient: Patient, fields: dict
) -> None:
    data = {
        "stage": "",
        "target_sets": 3,
        "target_reps": 10,
        "hold_at_top_seconds": 1,
        "sessions_per_week": 5,
        **fields,
    }
    before = _everything()
    response = _patient_page_post(
        bodies_web, patient, "sides/right/start/", {f"start-right-{k}": v for k, v in data.items()}
    )
    assert response.status_code == 200
    assert _everything() == before


@pytest.mark.parametrize("reason", ["duplicate" + NUL, "x" * 100_000], ids=_case_id)
def test_a_bad_void_reason_is_refused(
    bodies_web: Client, patient: Patient, bodies_rx: Prescription, reason: str
) -> None:
    response = client_for(patient.user).post(SETS_URL, a_set(bodies_rx), format="json")
    set_pk = response.json()["id"]
    response = _patient_page_post(bodies_web, patient, f"sets/{set_pk}/void/", {"reason": reason})
    assert response.status_code == 200
    assert not SetLog.objects.get(pk=set_pk).is_voided


@pytest.mark.parametrize(
    "fields",
    [
        {"note": "a" + NUL},
        {"note": "x" * 100_000},
        {"reps": HUGE},
        {"pain": HUGE},
        {"effort": -HUGE},
        {"prescription": HUGE},
        {"prescription": 2**63},
        {"prescription": NUL},
        {"client_id": NUL},
    ],
    ids=_case_id,
)
def test_a_bad_set_on_my_exercises_is_refused(
    bodies_patient_web: Client, bodies_rx: Prescription, fields: dict
) -> None:
    data = {
        "side": "left",
        "left-prescription": bodies_rx.pk,
        "left-client_id": str(uuid.uuid4()),
        "left-reps": 12,
        "left-pain": 2,
        "left-effort": "",
        "left-note": "",
    }
    data.update({f"left-{k}": v for k, v in fields.items()})
    before = _everything()
    response = bodies_patient_web.post("/me/log/", data)
    assert response.status_code == 400, response.status_code
    assert _everything() == before


@pytest.mark.parametrize("side", ["left" + NUL, NUL, "x" * 100_000], ids=_case_id)
def test_my_exercises_refuses_an_unknown_side(bodies_patient_web: Client, side: str) -> None:
    assert bodies_patient_web.post("/me/log/", {"side": side}).status_code == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "maya" + NUL},
        {"password": PASSWORD + NUL},
        {"username": "m" * 100_000},
        {"username": NUL, "password": NUL},
    ],
    ids=_case_id,
)
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_a_bad_sign_in_form_is_refused(patient: Patient, url: str, fields: dict) -> None:
    response = Client().post(url, {"username": "maya", "password": PASSWORD, **fields})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in Client().session


def test_form_bytes_that_are_not_utf8_are_refused_on_the_form(bodies_web: Client) -> None:
    body = b"record_number=MRN-9&first_name=Ad\xff\xfea&last_name=B&date_of_birth=1961-04-02"
    before = _everything()
    response = bodies_web.generic(
        "POST", "/patients/new/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert _everything() == before


def test_json_sent_to_a_web_form_is_an_empty_form(bodies_web: Client) -> None:
    before = _everything()
    response = bodies_web.generic(
        "POST", "/patients/new/", json.dumps(_patient_form()), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert _everything() == before


@pytest.mark.parametrize(
    "url",
    ["/patients/new/", "/accounts/login/", "/me/log/"],
)
def test_a_web_form_over_the_limit_is_a_413_page(
    bodies_web: Client, bodies_patient_web: Client, url: str
) -> None:
    client = bodies_patient_web if url == "/me/log/" else bodies_web
    body = "note=" + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = _everything()
    response = client.generic("POST", url, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"too large" in response.content
    assert _everything() == before


def test_too_many_form_fields_are_a_400(bodies_web: Client) -> None:
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = bodies_web.generic(
        "POST", "/patients/new/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        f"/patients/{HUGE}/",
        f"/patients/{2**63}/history/",
        f"/reports/patients/{2**63}/",
        f"/patients/1/prescriptions/{HUGE}/advance/",
        f"/patients/1/sets/{2**63}/void/",
    ],
)
def test_an_id_beyond_any_column_in_a_web_url_is_a_404(
    bodies_web: Client, patient: Patient, url: str
) -> None:
    url = url.replace("/patients/1/", f"/patients/{patient.pk}/")
    method = bodies_web.post if url.endswith(("advance/", "void/")) else bodies_web.get
    assert method(url).status_code == 404


def test_staff_role_is_checked_before_the_body(staff: Any, patient: Patient) -> None:
    """A refused user's bad body is never read: 403, whatever it holds."""
    client = Client()
    client.force_login(staff)
    before = _everything()
    response = client.post(f"/patients/{patient.pk}/edit/", _patient_form(first_name=NUL))
    assert response.status_code == 403
    assert _everything() == before


# -- Django's own error answers under /api/ --------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/no-such-thing/", "/api/v1/me/sets/1/", "/api/v2/me/", "/api/", "/api/v1"]
)
@pytest.mark.parametrize("signed_in", [False, True])
def test_an_unknown_api_address_is_a_json_404(
    patient: Patient, bodies_rx: Prescription, url: str, signed_in: bool
) -> None:
    client = client_for(patient.user if signed_in else None)
    error = assert_error(client.get(url), 404, "not_found")
    assert "/api/docs/" in error["message"]


def test_an_unknown_web_address_is_still_a_page(bodies_web: Client) -> None:
    response = bodies_web.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_method_an_api_address_does_not_take_is_a_405_in_the_error_shape(
    bodies_api: APIClient,
) -> None:
    assert_error(bodies_api.delete(SETS_URL), 405, "method_not_allowed")


def test_a_crash_in_the_api_is_a_json_500(
    bodies_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("exercises.api.views.plan_for", broken)
    bodies_api.raise_request_exception = False
    error = assert_error(bodies_api.get("/api/v1/me/plan/"), 500, "server_error")
    assert "bug" not in error["message"]
