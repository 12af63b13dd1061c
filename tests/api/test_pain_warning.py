"""The pain warning on POST me/sets/ and on each item of POST me/sets/batch/: after a set above the
pain alert threshold in force (the prescription's own, else the clinic's), the answer carries the
warning the "my exercises" page shows (exercises.plan.PainWarning), not a calm "saved". At or
below the threshold it is null; a replay carries it again; the list of sets never does."""

import datetime as dt

import pytest
from django.utils import timezone

from exercises.models import SetLog
from exercises.plan import PainWarning
from exercises.services import prescription_start
from tests.api.helpers import BATCH_URL, SETS_URL, a_set, assert_error, client_for, start, stored
from tests.factories import stage

PHONE = "020 7946 0123"  # an Ofcom number reserved for drama: never a real line


def post(client, body):
    return client.post(SETS_URL, body, format="json")


def sync(client, sets):
    return client.post(BATCH_URL, {"sets": sets}, format="json")


@pytest.fixture
def phone(clinic):
    clinic.phone = PHONE
    clinic.save()
    return clinic


def expected_warning(pain: int, threshold: int, clinic) -> dict:
    """The warning as the API must give it: the words of exercises.plan.PainWarning."""
    words = PainWarning(pain, threshold, clinic.name, clinic.phone)
    return {
        "title": words.title,
        "steps": words.steps,
        "message": words.message,
        "pain": pain,
        "pain_alert_above": threshold,
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone or None,
    }


# -- one set -----------------------------------------------------------------------------------


def test_a_set_above_the_threshold_is_stored_and_answered_with_the_warning(
    patient_client, prescription, phone
):
    response = post(patient_client, a_set(prescription, pain=6))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["warning"] == expected_warning(6, 5, phone)
    assert body["warning"]["title"] == "Stop this exercise for today"
    assert f"call Riverside Physio on {PHONE}" in body["warning"]["message"]
    assert stored() == (1, 1)  # the set is saved all the same: the therapist must see it


@pytest.mark.parametrize("pain", [0, 3, 5])
def test_a_set_at_or_below_the_threshold_has_no_warning(patient_client, prescription, pain):
    response = post(patient_client, a_set(prescription, pain=pain))

    assert response.status_code == 201, response.content
    assert response.json()["warning"] is None


@pytest.mark.parametrize(("pain", "warned"), [(4, False), (5, True), (6, True)])
def test_a_clinic_that_alerts_above_4_warns_from_5(
    patient_client, clinic, prescription, pain, warned
):
    clinic.pain_alert_above = 4
    clinic.save()

    warning = post(patient_client, a_set(prescription, pain=pain)).json()["warning"]

    assert (warning is not None) is warned
    if warned:
        assert warning == expected_warning(pain, 4, clinic)
        assert "it should stay at 4 or below" in warning["steps"][0]


def test_a_prescriptions_own_threshold_overrides_the_clinics(patient_client, patient, therapist):
    tolerant = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
        pain_alert_above=7,
    )

    assert post(patient_client, a_set(tolerant, pain=7)).json()["warning"] is None
    warning = post(patient_client, a_set(tolerant, pain=8)).json()["warning"]
    assert (warning["pain"], warning["pain_alert_above"]) == (8, 7)


def test_a_clinic_without_a_phone_number_says_to_contact_it(patient_client, clinic, prescription):
    assert clinic.phone == ""

    warning = post(patient_client, a_set(prescription, pain=9)).json()["warning"]

    assert warning["clinic_phone"] is None
    assert "contact Riverside Physio" in warning["message"]


def test_a_replay_carries_the_same_warning(patient_client, prescription, phone):
    body = a_set(prescription, pain=8)
    first = post(patient_client, body)
    again = post(patient_client, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["warning"] == expected_warning(8, 5, phone)
    assert stored() == (1, 1)


def test_a_replay_within_the_threshold_has_none(patient_client, prescription):
    body = a_set(prescription, pain=2)
    post(patient_client, body)

    again = post(patient_client, body)

    assert again.status_code == 200
    assert again.json()["warning"] is None


def test_the_list_of_sets_keeps_its_shape_without_a_warning(patient_client, prescription):
    post(patient_client, a_set(prescription, pain=9))

    listed = patient_client.get(SETS_URL).json()["results"]

    assert listed[0]["pain"] == 9
    assert "warning" not in listed[0]


def test_a_painful_set_costs_no_more_queries_than_a_calm_one(
    patient_client, prescription, django_assert_num_queries
):
    # Seen: 6, as for any new set (tests/api/test_query_counts.py): the warning reads the
    # prescription the service locked and the clinic loaded with the token.
    with django_assert_num_queries(6):
        assert post(patient_client, a_set(prescription, pain=9)).json()["warning"] is not None


# -- the batch ---------------------------------------------------------------------------------


def test_each_stored_item_of_a_batch_carries_its_own_warning(patient_client, prescription, phone):
    already = a_set(prescription, pain=7)
    post(patient_client, already)
    items = [
        a_set(prescription, pain=2),
        a_set(prescription, pain=6),
        a_set(prescription, pain=5),
        already,  # a duplicate: answered with the stored set and its warning
        a_set(prescription, pain=11),  # rejected: no set, so no warning
    ]

    response = sync(patient_client, items)

    assert response.status_code == 200, response.content
    body = response.json()
    results = body["results"]
    assert [r["status"] for r in results] == [
        "created",
        "created",
        "created",
        "duplicate",
        "rejected",
    ]
    warnings = [r["set"]["warning"] if r["set"] else "no set" for r in results]
    assert warnings == [
        None,
        expected_warning(6, 5, phone),
        None,
        expected_warning(7, 5, phone),
        "no set",
    ]
    assert body["warnings"] == 2


def test_a_batch_uses_the_clinics_own_threshold(patient_client, clinic, prescription):
    clinic.pain_alert_above = 4
    clinic.save()

    results = sync(patient_client, [a_set(prescription, pain=4), a_set(prescription, pain=5)])

    warnings = [r["set"]["warning"] for r in results.json()["results"]]
    assert warnings[0] is None
    assert (warnings[1]["pain"], warnings[1]["pain_alert_above"]) == (5, 4)


def test_a_batch_item_is_the_same_set_and_warning_as_logging_it_alone(patient_client, prescription):
    body = a_set(prescription, pain=9)
    alone = post(patient_client, body).json()

    in_batch = sync(patient_client, [body]).json()["results"][0]["set"]

    assert in_batch == alone


def test_a_calm_batch_has_no_warnings(patient_client, prescription):
    body = sync(patient_client, [a_set(prescription, pain=1), a_set(prescription, pain=0)]).json()

    assert body["warnings"] == 0
    assert [r["set"]["warning"] for r in body["results"]] == [None, None]


# -- who gets a warning: only the patient who logged the set ------------------------------------


def test_another_patient_gets_404_and_no_warning_for_the_patients_prescription(
    other_patient_client, prescription, phone
):
    before = stored()

    response = post(other_patient_client, a_set(prescription, pain=9))

    assert_error(response, 404, "not_found")
    assert "warning" not in response.json() and PHONE not in response.content.decode()
    result = sync(other_patient_client, [a_set(prescription, pain=9)]).json()
    assert (result["results"][0]["status"], result["results"][0]["set"]) == ("rejected", None)
    assert result["warnings"] == 0
    assert stored() == before


@pytest.mark.parametrize(("who", "status"), [("outsider", 403), ("anonymous", 401)])
def test_an_outsider_logs_nothing_and_gets_no_warning(request, prescription, phone, who, status):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = client_for(user)
    before = stored()

    for response in (
        post(client, a_set(prescription, pain=9)),
        sync(client, [a_set(prescription, pain=9)]),
    ):
        assert_error(response, status)
        assert PHONE not in response.content.decode()
    assert stored() == before
    assert not SetLog.objects.exists()


def test_a_therapist_of_the_clinic_logs_nothing_through_the_patient_api(
    therapist_client, prescription
):
    assert_error(post(therapist_client, a_set(prescription, pain=9)), 403, "permission_denied")


def test_the_other_side_of_the_patient_has_its_own_threshold(patient_client, patient, therapist):
    left = start(patient, therapist, side="left")
    right = prescription_start(
        patient=patient,
        side="right",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
        pain_ceiling=2,
        pain_alert_above=3,
    )

    assert post(patient_client, a_set(left, pain=4)).json()["warning"] is None
    assert post(patient_client, a_set(right, pain=4)).json()["warning"]["pain_alert_above"] == 3
