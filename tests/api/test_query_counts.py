"""What each request costs in database queries: a write stays at or under 6 (docs/api.md), and a read
does not grow with the number of sets or stage changes.

Counted as Django counts them, the token lookup and the transaction statements included (BEGIN and
COMMIT in production; inside a test's transaction the same two appear as SAVEPOINT and RELEASE, so
the numbers are the same either way)."""

import datetime as dt

import pytest
from django.utils import timezone

from exercises.services import prescription_advance, prescription_regress
from tests.api.helpers import BATCH_URL, SETS_URL, a_set, client_for, start
from tests.factories import record_clearance

WRITE_BUDGET = 6


def post(client, body):
    response = client.post(SETS_URL, body, format="json")
    assert response.status_code in (200, 201), response.content
    return response


def test_logging_a_set_costs_at_most_six_queries(
    patient_client, prescription, django_assert_max_num_queries
):
    # Seen: 6 on SQLite and PostgreSQL — the token with its user, patient and clinic; BEGIN; the
    # prescription read and locked, with the set stored under the client_id (none) in the same
    # statement; the insert; its history row; COMMIT. (Before the lookup was folded into the
    # locking statement: 7.)
    with django_assert_max_num_queries(WRITE_BUDGET):
        post(patient_client, a_set(prescription))
    with django_assert_max_num_queries(WRITE_BUDGET):
        post(patient_client, a_set(prescription))


def test_logging_a_set_for_a_patient_who_requires_clearance_costs_the_same(
    fracture_with_login, therapist, django_assert_max_num_queries
):
    today = fracture_with_login.clinic.local_date(timezone.now())
    for days in (90, 30, 5):  # several notes: the one in force is found in the same statement
        record_clearance(
            fracture_with_login,
            by=therapist,
            signed_on=today - dt.timedelta(days=days),
            review_on=today + dt.timedelta(days=60),
        )
    prescription = start(fracture_with_login, therapist, days_ago=3)
    client = client_for(fracture_with_login.user)
    # Seen: 6, as above: the clearance note in effect that day is read in the prescription's
    # statement, not in a query of its own. (Before: 8 — the client_id lookup and all the
    # patient's notes were two more queries.)
    with django_assert_max_num_queries(WRITE_BUDGET):
        response = post(client, a_set(prescription))
    assert response.status_code == 201


def test_a_replay_costs_no_more_than_a_write(
    patient_client, prescription, django_assert_num_queries
):
    body = a_set(prescription)
    post(patient_client, body)
    # Seen: 5 — the token; BEGIN; the prescription with the stored set and its stage; COMMIT;
    # the prescription the stored set was logged against, for the thresholds of the warning a
    # replay repeats (the service hands back the stored row without it; was 4). Nothing is
    # written.
    with django_assert_num_queries(WRITE_BUDGET - 1):
        assert post(patient_client, body).status_code == 200


def test_a_refused_write_costs_no_more_than_a_write(
    patient_client, prescription, other_prescription, django_assert_max_num_queries
):
    # Seen: 6 here, 5 in production — the token; BEGIN; no such prescription for this patient;
    # whether the client_id was used (a conflict answers first); ROLLBACK (in a test: rollback to
    # and release of the savepoint).
    with django_assert_max_num_queries(WRITE_BUDGET):
        response = patient_client.post(
            SETS_URL, a_set(prescription, prescription=other_prescription.pk), format="json"
        )
    assert response.status_code == 404


@pytest.mark.parametrize("items", [1, 20])
def test_a_batch_costs_a_fixed_number_of_queries_per_set(
    patient_client, prescription, items, django_assert_max_num_queries
):
    # Seen: 1 (the token) + 5 per set (BEGIN, read and lock, insert, history, COMMIT): 6 and 101.
    body = {"sets": [a_set(prescription) for _ in range(items)]}
    with django_assert_max_num_queries(1 + (WRITE_BUDGET - 1) * items):
        response = patient_client.post(BATCH_URL, body, format="json")
    assert response.json()["created"] == items


# -- reads do not grow with the data -----------------------------------------------------------


def test_the_history_costs_the_same_for_few_and_many_sets(
    patient_client, patient, therapist, prescription, django_assert_num_queries
):
    right = start(patient, therapist, side="right")
    post(patient_client, a_set(prescription))
    # Seen: 3 — the token, the count, the page.
    with django_assert_num_queries(3):
        patient_client.get(SETS_URL)
    for i in range(15):
        post(patient_client, a_set(right if i % 2 else prescription))
    with django_assert_num_queries(3):
        response = patient_client.get(SETS_URL)
    assert response.json()["count"] == 16


def _many_stage_changes(patient, therapist, client):
    """Both sides up and down the ladder, with sets at each stage."""
    now = timezone.now()
    for side in ("left", "right"):
        current = start(patient, therapist, side=side, days_ago=20)
        for step in range(6):
            at = now - dt.timedelta(days=18 - 3 * step)
            post(client, a_set(current, performed_at=(at - dt.timedelta(hours=1)).isoformat()))
            change = prescription_advance if step % 2 == 0 else prescription_regress
            current = change(prescription=current, by=therapist, at=at)
        post(client, a_set(current))


@pytest.mark.parametrize(
    ("url", "seen"),
    [
        # the token, the therapist
        ("/api/v1/me/", 2),
        # the token, the active prescriptions (readiness, best reps within the pain ceiling and
        # the thresholds in force annotated on them: the pain key and the thresholds read no
        # more), the ladder's stages (exercises.plan: whether the clearance allows the next
        # stage; was 2 before that)
        ("/api/v1/me/plan/", 3),
        # the plan's 3, this week's days, the stage history, the rolling 30 days' data days; and
        # for the current monitoring window, when monitoring started (the first prescription,
        # which may have ended) and the days with data in the window: progress_for does not hand
        # over the rolling days it read (was 6, with best reps read on its own)
        ("/api/v1/me/progress/", 8),
    ],
)
def test_me_plan_and_progress_cost_the_same_however_long_the_history(
    patient, other_patient, therapist, url, seen, django_assert_num_queries
):
    short = client_for(patient.user)
    post(short, a_set(start(patient, therapist, days_ago=20)))
    long = client_for(other_patient.user)
    _many_stage_changes(other_patient, therapist, long)

    with django_assert_num_queries(seen):
        short.get(url)
    with django_assert_num_queries(seen):
        response = long.get(url)
    if url.endswith("progress/"):
        assert len(response.json()["sides"][0]["history"]) == 7


def test_the_plan_of_a_patient_who_requires_clearance_reads_the_notes_once(
    fracture_with_login, therapist, django_assert_num_queries
):
    today = fracture_with_login.clinic.local_date(timezone.now())
    for days in (90, 30, 5):
        record_clearance(
            fracture_with_login,
            by=therapist,
            signed_on=today - dt.timedelta(days=days),
            review_on=today + dt.timedelta(days=60),
        )
    start(fracture_with_login, therapist, side="left")
    start(fracture_with_login, therapist, side="right")
    client = client_for(fracture_with_login.user)
    # Seen: 4 — the token, the active prescriptions, the clearance notes (once, for both sides),
    # the ladder's stages (whether the clearance allows the next stage; was 3 before that).
    with django_assert_num_queries(4):
        client.get("/api/v1/me/plan/")
