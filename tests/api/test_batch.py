"""POST me/sets/batch/: an offline backlog synced at once. One result per item, in order; a bad item
never blocks a good one; only the envelope itself can fail the whole request."""

import datetime as dt

import pytest
from django.utils import timezone

from exercises.models import SetLog
from exercises.services import prescription_advance
from tests.api.helpers import BATCH_URL, SETS_URL, a_set, assert_error, client_for, start, stored
from tests.factories import record_clearance

DAY = dt.timedelta(days=1)


def sync(client, body):
    return client.post(BATCH_URL, body, format="json")


def test_a_batch_stores_every_good_set_and_reports_each(patient_client, prescription):
    items = [a_set(prescription, reps=10 + i) for i in range(3)]
    response = sync(patient_client, {"sets": items})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (3, 0, 0)
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert [r["client_id"] for r in body["results"]] == [i["client_id"] for i in items]
    assert [r["set"]["reps"] for r in body["results"]] == [10, 11, 12]
    assert {r["status"] for r in body["results"]} == {"created"}
    assert {r["http_status"] for r in body["results"]} == {201}
    assert sorted(SetLog.objects.values_list("id", flat=True)) == sorted(
        r["set"]["id"] for r in body["results"]
    )
    assert stored() == (3, 3)


def test_a_therapist_of_another_clinic_cannot_sync_a_batch(outsider_client, prescription):
    response = sync(outsider_client, {"sets": [a_set(prescription)]})
    assert_error(response, 403, "permission_denied")
    assert stored() == (0, 0)


def test_a_mixed_batch_reports_one_result_per_item_in_order(
    patient_client, therapist, prescription, other_prescription
):
    already = a_set(prescription, reps=9)
    assert patient_client.post(SETS_URL, already, format="json").status_code == 201
    ended = a_set(prescription, reps=14)  # the stage changes below: the prescription ends
    new_stage = prescription_advance(
        prescription=prescription, by=therapist, at=timezone.now() - DAY
    )
    good_first = a_set(new_stage, reps=15)
    items = [
        a_set(new_stage, reps=0),  # bad input
        {**already},  # stored before: a duplicate
        a_set(new_stage, prescription=other_prescription.pk),  # another patient's: not found
        ended,  # performed after its prescription ended: a conflict
        good_first,
        {**already, "reps": 99},  # the same client_id, another payload: a conflict
        a_set(new_stage, efort=5),  # unknown field
        {**good_first},  # the same item twice in one batch: a duplicate
        a_set(new_stage, reps=16),
    ]
    before = stored()

    response = sync(patient_client, {"sets": items})

    assert response.status_code == 200, response.content
    body = response.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [(r["status"], r["http_status"]) for r in results] == [
        ("rejected", 400),
        ("duplicate", 200),
        ("rejected", 404),
        ("rejected", 409),
        ("created", 201),
        ("rejected", 409),
        ("rejected", 400),
        ("duplicate", 200),
        ("created", 201),
    ]
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 2, 5)
    assert [r["client_id"] for r in results] == [i["client_id"] for i in items]

    errors = [r["error"] for r in results]
    assert errors[0]["code"] == "invalid" and "reps" in errors[0]["fields"]
    assert errors[2]["code"] == "not_found"
    assert errors[3]["code"] == "prescription_ended"
    assert errors[5]["code"] == "idempotency_conflict"
    assert errors[6]["fields"] == {"efort": ["Unknown field."]}
    for result in results:
        if result["status"] == "rejected":
            assert result["set"] is None
            assert set(result["error"]) == {"code", "message", "fields"}
        else:
            assert result["error"] is None
    # The duplicates answer with the stored sets.
    assert results[1]["set"]["id"] == SetLog.objects.get(client_id=already["client_id"]).pk
    assert results[7]["set"]["id"] == results[4]["set"]["id"]
    # Only the two good items were written, though five bad ones came first or between.
    assert stored() == (before[0] + 2, before[1] + 2)
    assert set(SetLog.objects.values_list("reps", flat=True)) == {9, 15, 16}


def test_a_replayed_batch_stores_nothing_new(patient_client, prescription):
    body = {"sets": [a_set(prescription, reps=10 + i) for i in range(5)]}
    first = sync(patient_client, body).json()
    before = stored()

    again = sync(patient_client, body).json()

    assert (again["created"], again["duplicates"], again["rejected"]) == (0, 5, 0)
    assert [r["set"]["id"] for r in again["results"]] == [r["set"]["id"] for r in first["results"]]
    assert stored() == before


@pytest.mark.parametrize("item", [42, "a set", None, [1, 2], True])
def test_an_item_that_is_not_an_object_is_a_rejected_item(patient_client, prescription, item):
    good = a_set(prescription)
    response = sync(patient_client, {"sets": [item, good]})

    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert (first["status"], first["http_status"], first["client_id"]) == ("rejected", 400, None)
    assert first["error"]["code"] == "invalid"
    assert first["error"]["fields"]
    assert second["status"] == "created"
    assert stored() == (1, 1)


def test_a_paused_item_tells_the_patient_to_contact_their_therapist(fracture_with_login, therapist):
    today = fracture_with_login.clinic.local_date(timezone.now())
    record_clearance(
        fracture_with_login, by=therapist, signed_on=today - 40 * DAY, review_on=today - 2 * DAY
    )
    paused = start(fracture_with_login, therapist, days_ago=10)
    done_in_time = a_set(paused, performed_at=(timezone.now() - 5 * DAY).isoformat())

    response = sync(client_for(fracture_with_login.user), {"sets": [a_set(paused), done_in_time]})

    first, second = response.json()["results"]
    assert (first["status"], first["http_status"]) == ("rejected", 409)
    assert first["error"]["code"] == "prescription_paused"
    assert "contact your therapist" in first["error"]["message"]
    assert second["status"] == "created"


# -- the envelope ------------------------------------------------------------------------------


def bad_envelope(client, body, field=None, **kwargs):
    before = stored()
    response = client.post(BATCH_URL, body, **kwargs) if kwargs else sync(client, body)
    error = assert_error(response, 400)
    if field is not None:
        assert field in error["fields"], error
    assert stored() == before
    return error


def test_an_empty_batch_is_refused(patient_client):
    error = bad_envelope(patient_client, {"sets": []}, "sets")
    assert "between 1 and 200" in error["fields"]["sets"][0]


def test_a_batch_of_201_sets_is_refused_and_stores_none(patient_client, prescription):
    error = bad_envelope(
        patient_client, {"sets": [a_set(prescription) for _ in range(201)]}, "sets"
    )
    assert "between 1 and 200" in error["fields"]["sets"][0]


def test_a_batch_of_200_sets_is_accepted(patient_client, prescription):
    items = [a_set(prescription) for _ in range(200)]
    response = sync(patient_client, {"sets": items})
    assert (response.status_code, response.json()["created"]) == (200, 200)
    rows = SetLog.objects.filter(prescription=prescription)
    assert sorted(str(key) for key in rows.values_list("client_id", flat=True)) == sorted(
        item["client_id"] for item in items
    )


def test_an_unknown_top_level_field_is_refused(patient_client, prescription):
    error = bad_envelope(patient_client, {"sets": [a_set(prescription)], "device": "x"}, "device")
    assert error["fields"]["device"] == ["Unknown field."]


@pytest.mark.parametrize("sets", [None, "all", 3, {"0": {}}])
def test_sets_must_be_a_list(patient_client, sets):
    bad_envelope(patient_client, {"sets": sets}, "sets")


def test_a_batch_without_sets_is_refused(patient_client):
    bad_envelope(patient_client, {}, "sets")


def test_a_list_instead_of_an_object_is_refused(patient_client, prescription):
    bad_envelope(patient_client, [a_set(prescription)], "non_field")


def test_null_instead_of_an_object_is_refused(patient_client):
    error = bad_envelope(patient_client, "null", "non_field", content_type="application/json")
    assert error["fields"]["non_field"] == ['Send an object: {"sets": [...]}.']


def test_an_unknown_field_and_a_bad_list_are_named_together(patient_client):
    error = bad_envelope(patient_client, {"sets": [], "device": "x"})
    assert error["fields"] == {
        "sets": ["Send between 1 and 200 sets."],
        "device": ["Unknown field."],
    }


def test_malformed_json_is_refused(patient_client):
    error = bad_envelope(patient_client, '{"sets": [', content_type="application/json")
    assert error["code"] == "parse_error"


def test_a_body_that_is_not_json_is_unsupported(patient_client):
    response = patient_client.post(BATCH_URL, "sets=1", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert stored() == (0, 0)
