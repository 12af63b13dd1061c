"""POST me/sets/: a set is stored once, a replay answers with it, and every bad input gets one clear
error and writes nothing."""

import datetime as dt
import json
import uuid

import pytest
from django.db.models import F
from django.utils import timezone

from exercises.models import SetLog, Source
from exercises.services import prescription_advance
from patients.models import Decision, Patient
from tests.api.helpers import SETS_URL, a_set, assert_error, client_for, start, stored
from tests.factories import record_clearance

MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)


def post(client, body, **kwargs):
    return client.post(SETS_URL, body, format="json", **kwargs)


# -- storing ---------------------------------------------------------------------------------


def test_a_set_is_stored_and_returned(patient_client, patient, prescription):
    body = a_set(prescription, reps=15, pain=2, effort=6, note="  Felt steady.  ")
    response = post(patient_client, body)

    assert response.status_code == 201, response.content
    row = SetLog.objects.get()
    answer = response.json()
    assert answer["id"] == row.pk
    assert answer["client_id"] == body["client_id"]
    assert (answer["prescription"], answer["side"], answer["stage"]) == (prescription.pk, "left", 1)
    assert (answer["reps"], answer["pain"], answer["effort"]) == (15, 2, 6)
    assert answer["note"] == "Felt steady."
    assert (answer["source"], answer["voided"]) == ("app", False)
    assert (row.patient, row.logged_by, row.source) == (patient, patient.user, Source.APP)
    assert row.performed_at == dt.datetime.fromisoformat(body["performed_at"])
    assert stored() == (1, 1)


def test_effort_and_note_are_optional(patient_client, prescription):
    body = a_set(prescription)
    del body["effort"], body["note"]
    response = post(patient_client, body)
    assert response.status_code == 201, response.content
    assert (response.json()["effort"], response.json()["note"]) == (None, "")


def test_a_time_in_any_offset_is_stored_as_the_same_instant(patient_client, prescription):
    moment = timezone.now() - dt.timedelta(hours=2)
    in_tokyo = moment.astimezone(dt.timezone(dt.timedelta(hours=9))).isoformat()
    response = post(patient_client, a_set(prescription, performed_at=in_tokyo))
    assert response.status_code == 201, response.content
    assert SetLog.objects.get().performed_at == moment


def test_a_phone_clock_a_few_minutes_fast_is_accepted(patient_client, prescription):
    ahead = (timezone.now() + 4 * MINUTE).isoformat()
    assert post(patient_client, a_set(prescription, performed_at=ahead)).status_code == 201
    row = SetLog.objects.get()
    assert (row.prescription, row.performed_at) == (prescription, dt.datetime.fromisoformat(ahead))


def test_a_therapist_of_another_clinic_cannot_log_a_set(outsider_client, prescription):
    before = stored()
    assert_error(post(outsider_client, a_set(prescription)), 403, "permission_denied")
    assert stored() == before


# -- replay and conflict ---------------------------------------------------------------------


def test_a_replay_answers_200_with_the_same_set_and_stores_nothing(patient_client, prescription):
    body = a_set(prescription)
    first = post(patient_client, body)
    assert first.status_code == 201
    before = stored()

    again = post(patient_client, body)

    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert stored() == before == (1, 1)


def test_a_replay_with_the_same_instant_in_another_offset_is_still_a_replay(
    patient_client, prescription
):
    body = a_set(prescription)
    first = post(patient_client, body).json()
    moment = dt.datetime.fromisoformat(body["performed_at"])
    shifted = moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()
    again = post(patient_client, {**body, "performed_at": shifted})
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


@pytest.mark.parametrize(
    "change",
    [
        {"reps": 13},
        {"pain": 3},
        {"effort": 7},
        {"effort": None},
        {"note": "Something else."},
        {"performed_at": (timezone.now() - dt.timedelta(hours=3)).isoformat()},
    ],
)
def test_the_same_client_id_with_another_payload_is_a_conflict(
    patient_client, prescription, change
):
    body = a_set(prescription)
    post(patient_client, body)
    before = stored()

    error = assert_error(post(patient_client, {**body, **change}), 409, "idempotency_conflict")

    assert body["client_id"] in error["message"]
    assert stored() == before


def test_the_same_client_id_on_the_other_side_is_a_conflict(
    patient_client, patient, therapist, prescription
):
    right = start(patient, therapist, side="right")
    body = a_set(prescription)
    post(patient_client, body)
    before = stored()
    assert_error(post(patient_client, {**body, "prescription": right.pk}), 409)
    assert stored() == before


def test_a_replay_after_the_stage_changed_still_answers_with_the_stored_set(
    patient_client, therapist, prescription
):
    body = a_set(prescription, performed_at=(timezone.now() - 2 * DAY).isoformat())
    first = post(patient_client, body).json()
    prescription_advance(prescription=prescription, by=therapist, at=timezone.now() - DAY)
    again = post(patient_client, body)
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


# -- bad input: 400, the field named, nothing written ------------------------------------------


def bad(client, body, field, **kwargs):
    """Post bad input: 400 in the one error shape naming `field`, and nothing written."""
    before = stored()
    error = assert_error(post(client, body, **kwargs), 400, "invalid")
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert stored() == before
    return error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reps", 0),
        ("reps", 101),
        ("reps", -5),
        ("reps", "many"),
        ("reps", None),
        ("pain", -1),
        ("pain", 11),
        ("pain", None),
        ("effort", -1),
        ("effort", 11),
        ("prescription", 0),
        ("prescription", "left"),
        ("prescription", 2**63),
        ("client_id", "not-a-uuid"),
        ("client_id", "3f6c1c1e-8a3b-4f59-9a47-2d8a2f0b6e1"),  # one digit short
        ("client_id", 12345),
        ("performed_at", "yesterday"),
        ("performed_at", "2026-13-45T07:30:00+00:00"),
        ("performed_at", "2026-11-24"),
        ("performed_at", 1764000000),
        ("note", "x" * 501),
        ("note", None),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(patient_client, prescription, field, value):
    bad(patient_client, a_set(prescription, **{field: value}), field)


def test_a_note_of_500_characters_is_accepted(patient_client, prescription):
    assert post(patient_client, a_set(prescription, note="é" * 500)).status_code == 201
    assert SetLog.objects.get().note == "é" * 500


@pytest.mark.parametrize("field", ["client_id", "prescription", "reps", "pain", "performed_at"])
def test_a_missing_required_field_is_named(patient_client, prescription, field):
    body = a_set(prescription)
    del body[field]
    error = bad(patient_client, body, field)
    assert error["fields"][field] == ["This field is required."]


def test_every_missing_field_is_named_at_once(patient_client):
    error = bad(patient_client, {}, "reps")
    assert set(error["fields"]) == {"client_id", "prescription", "reps", "pain", "performed_at"}


def test_a_time_without_its_utc_offset_is_refused(patient_client, prescription):
    naive = (timezone.now() - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    error = bad(patient_client, a_set(prescription, performed_at=naive), "performed_at")
    assert "UTC offset" in error["fields"]["performed_at"][0]


def test_an_unknown_field_is_refused_not_dropped(patient_client, prescription):
    body = a_set(prescription)
    body["efort"] = body.pop("effort")  # a typo must not silently lose the effort
    error = bad(patient_client, body, "efort")
    assert error["fields"] == {"efort": ["Unknown field."]}


def test_unknown_and_invalid_fields_are_reported_together(patient_client, prescription):
    error = bad(patient_client, a_set(prescription, reps=0, side="left"), "side")
    assert set(error["fields"]) == {"reps", "side"}


def test_a_set_more_than_5_minutes_in_the_future_is_refused(patient_client, prescription):
    ahead = (timezone.now() + 6 * MINUTE).isoformat()
    error = bad(patient_client, a_set(prescription, performed_at=ahead), "performed_at")
    assert "future" in error["fields"]["performed_at"][0]


def test_a_set_older_than_30_days_is_refused(patient_client, patient, therapist):
    old = start(patient, therapist, days_ago=60)
    long_ago = (timezone.now() - 30 * DAY - MINUTE).isoformat()
    error = bad(patient_client, a_set(old, performed_at=long_ago), "performed_at")
    assert "older than 30 days" in error["fields"]["performed_at"][0]


def test_a_set_from_29_days_ago_is_accepted(patient_client, patient, therapist):
    old = start(patient, therapist, days_ago=60)
    recent_enough = (timezone.now() - 29 * DAY).isoformat()
    assert post(patient_client, a_set(old, performed_at=recent_enough)).status_code == 201
    row = SetLog.objects.get()
    assert (row.prescription, row.performed_at) == (old, dt.datetime.fromisoformat(recent_enough))


def test_a_set_before_the_prescription_started_is_refused(patient_client, prescription):
    before_start = (prescription.started_at - MINUTE).isoformat()
    bad(patient_client, a_set(prescription, performed_at=before_start), "performed_at")


def test_a_naive_time_on_a_replay_is_bad_input_not_a_conflict(patient_client, prescription):
    body = a_set(prescription)
    post(patient_client, body)
    naive = dt.datetime.fromisoformat(body["performed_at"]).replace(tzinfo=None).isoformat()
    bad(patient_client, {**body, "performed_at": naive}, "performed_at")


# -- bad bodies --------------------------------------------------------------------------------


def test_a_list_instead_of_an_object_is_refused(patient_client, prescription):
    error = bad(patient_client, [a_set(prescription)], "non_field")
    assert "dictionary" in error["message"] or "object" in error["message"]


@pytest.mark.parametrize("body", ['"a string"', "42", "null", "true"])
def test_a_json_value_that_is_not_an_object_is_refused(patient_client, body):
    before = stored()
    response = patient_client.post(SETS_URL, body, content_type="application/json")
    assert_error(response, 400)
    assert stored() == before


@pytest.mark.parametrize("body", ['{"reps": 12', "not json at all", "{'reps': 12}"])
def test_malformed_json_is_refused(patient_client, body):
    before = stored()
    response = patient_client.post(SETS_URL, body, content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert stored() == before


def test_an_empty_body_names_every_required_field(patient_client):
    response = patient_client.post(SETS_URL, "", content_type="application/json")
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"client_id", "prescription", "reps", "pain", "performed_at"}
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_is_unsupported(patient_client, prescription, content_type):
    before = stored()
    response = patient_client.post(
        SETS_URL, json.dumps(a_set(prescription)), content_type=content_type
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert "Unsupported media type" in error["message"]
    assert stored() == before


# -- prescriptions that cannot take the set: 404 and 409 -----------------------------------------


@pytest.mark.parametrize("missing", [10_000, 2**63 - 1])
def test_a_prescription_that_does_not_exist_is_not_found(patient_client, prescription, missing):
    before = stored()
    response = post(patient_client, a_set(prescription, prescription=missing))
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "No such prescription for this patient."
    assert stored() == before


def test_another_patients_prescription_gets_the_same_answer_as_a_missing_one(
    patient_client, prescription, other_prescription
):
    before = stored()
    theirs = post(patient_client, a_set(prescription, prescription=other_prescription.pk))
    missing = post(patient_client, a_set(prescription, prescription=other_prescription.pk + 1000))
    assert_error(theirs, 404, "not_found")
    assert theirs.json() == missing.json()
    assert stored() == before


def test_an_ended_prescription_is_a_conflict(patient_client, therapist, prescription):
    prescription_advance(prescription=prescription, by=therapist, at=timezone.now() - DAY)
    before = stored()
    error = assert_error(post(patient_client, a_set(prescription)), 409, "prescription_ended")
    assert "current plan" in error["message"]
    assert stored() == before


def test_a_set_done_before_the_stage_changed_and_synced_late_is_accepted(
    patient_client, therapist, prescription
):
    prescription_advance(prescription=prescription, by=therapist, at=timezone.now() - DAY)
    done_offline = (timezone.now() - 2 * DAY).isoformat()
    response = post(patient_client, a_set(prescription, performed_at=done_offline))
    assert (response.status_code, response.json()["stage"]) == (201, 1)
    row = SetLog.objects.get()
    assert (row.prescription, row.stage.number) == (prescription, 1)
    assert row.performed_at == dt.datetime.fromisoformat(done_offline)


def _clinic_today(patient):
    return patient.clinic.local_date(timezone.now())


@pytest.fixture
def lapsed(fracture_with_login, therapist):
    """Cleared six weeks ago until two days ago: the prescription started in time, now paused."""
    today = _clinic_today(fracture_with_login)
    record_clearance(
        fracture_with_login, by=therapist, signed_on=today - 40 * DAY, review_on=today - 2 * DAY
    )
    return start(fracture_with_login, therapist, days_ago=10)


def test_a_paused_prescription_is_a_conflict_telling_the_patient_to_call(
    fracture_with_login, lapsed
):
    before = stored()
    response = post(client_for(fracture_with_login.user), a_set(lapsed))
    error = assert_error(response, 409, "prescription_paused")
    assert "contact your therapist" in error["message"]
    assert "lapsed" in error["message"]
    assert stored() == before


def test_a_set_done_while_the_clearance_was_in_force_is_accepted(fracture_with_login, lapsed):
    done = (timezone.now() - 5 * DAY).isoformat()
    response = post(client_for(fracture_with_login.user), a_set(lapsed, performed_at=done))
    assert response.status_code == 201
    row = SetLog.objects.get()
    assert (row.patient, row.prescription) == (fracture_with_login, lapsed)
    assert row.performed_at == dt.datetime.fromisoformat(done)


def test_a_prescription_is_paused_when_a_later_note_does_not_clear_the_patient(
    fracture_with_login, therapist
):
    today = _clinic_today(fracture_with_login)
    record_clearance(
        fracture_with_login, by=therapist, signed_on=today - 20 * DAY, review_on=today + 60 * DAY
    )
    running = start(fracture_with_login, therapist, days_ago=10)
    record_clearance(
        fracture_with_login,
        by=therapist,
        signed_on=today - 2 * DAY,
        review_on=today + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    error = assert_error(
        post(client_for(fracture_with_login.user), a_set(running)), 409, "prescription_paused"
    )
    assert "contact your therapist" in error["message"]
    assert not SetLog.objects.exists()


def test_a_prescription_is_paused_when_clearance_becomes_required_and_none_is_recorded(
    patient_client, patient, prescription
):
    Patient.objects.filter(pk=patient.pk).update(
        requires_clearance=True, clearance_reason="pelvic fracture"
    )
    error = assert_error(post(patient_client, a_set(prescription)), 409, "prescription_paused")
    assert "contact your therapist" in error["message"]
    assert not SetLog.objects.exists()


def test_a_replay_is_answered_before_the_prescription_is_checked_again(
    patient_client, patient, prescription
):
    body = a_set(prescription)
    first = post(patient_client, body).json()
    Patient.objects.filter(pk=patient.pk).update(
        requires_clearance=True, clearance_reason="pelvic fracture"
    )
    again = post(patient_client, body)
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


def test_a_stored_set_keeps_its_time_to_the_microsecond(patient_client, prescription):
    moment = (timezone.now() - dt.timedelta(minutes=7)).replace(microsecond=123456)
    post(patient_client, a_set(prescription, performed_at=moment.isoformat()))
    assert SetLog.objects.filter(performed_at=moment).exists()
    assert SetLog.objects.filter(logged_at__gte=F("performed_at")).exists()


def test_a_client_id_in_upper_case_is_the_same_key(patient_client, prescription):
    body = a_set(prescription, client_id=str(uuid.uuid4()).upper())
    first = post(patient_client, body).json()
    again = post(patient_client, {**body, "client_id": body["client_id"].lower()})
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


@pytest.mark.parametrize("moment", ["0001-01-01T00:30:00Z", "9999-12-31T23:30:00-05:00"])
def test_a_time_at_the_edge_of_the_calendar_is_refused_not_a_server_error(
    chicago_patient, outsider, moment
):
    """In Chicago the first half hour of year 1 (UTC) is still year 0: not a crash."""
    prescription = start(chicago_patient, outsider)
    bad(client_for(chicago_patient.user), a_set(prescription, performed_at=moment), "performed_at")


def test_a_reused_client_id_with_another_patients_prescription_reveals_nothing(
    patient_client, prescription, other_prescription
):
    body = a_set(prescription)
    post(patient_client, body)
    before = stored()
    theirs = post(patient_client, {**body, "prescription": other_prescription.pk})
    missing = post(patient_client, {**body, "prescription": other_prescription.pk + 1000})
    assert_error(theirs, 409, "idempotency_conflict")
    assert theirs.json() == missing.json()
    assert stored() == before
