"""The same set posted by 20 clients at once through the API stores one row, and every answer carries
its id (PostgreSQL: real concurrent writers; SQLite serialises them)."""

import threading

import pytest
from django.db import connection, connections

from exercises.models import SetLog
from tests.api.helpers import SETS_URL, a_set, client_for, start

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers; the race needs PostgreSQL (make test-postgres runs it)",
)

CLIENTS = 20


# `reseed_after_flush` first: it tears down after transactional_db's flush and restores the ladder.
def test_twenty_identical_concurrent_posts_store_one_row_and_answer_one_id(
    reseed_after_flush, transactional_db, patient, therapist
):
    prescription = start(patient, therapist, days_ago=1)
    body = a_set(prescription)
    client_for(patient.user)  # create the token before the race
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = client_for(patient.user)
            barrier.wait()
            response = client.post(SETS_URL, body, format="json")
            answers.append((response.status_code, response.json()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(answers) == CLIENTS
    assert sorted(status for status, _ in answers) == [200] * (CLIENTS - 1) + [201]
    row = SetLog.objects.get(patient=patient, client_id=body["client_id"])
    assert {answer["id"] for _, answer in answers} == {row.pk}
    assert SetLog.objects.count() == 1
    assert SetLog.history.count() == 1
