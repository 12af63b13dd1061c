"""Many identical set_log calls at once store exactly one row (PostgreSQL: real concurrent writers)."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection, connections
from django.utils import timezone

from exercises import services
from exercises.models import SetLog
from tests.factories import stage

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers; the race needs PostgreSQL (make test-postgres runs it)",
)


def test_twenty_identical_concurrent_logs_store_one_row(
    reseed_after_flush, transactional_db, patient, therapist
):
    prescription = services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=1),
    )
    client_id = uuid.uuid4()
    performed_at = timezone.now() - dt.timedelta(minutes=10)
    barrier = threading.Barrier(20)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def log() -> None:
        try:
            barrier.wait()
            logged = services.set_log(
                patient=patient,
                prescription=prescription,
                reps=12,
                pain=2,
                performed_at=performed_at,
                client_id=client_id,
                by=patient.user,
                source="app",
            )
            results.append((logged.set_log.pk, logged.created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=log) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert SetLog.objects.filter(patient=patient, client_id=client_id).count() == 1
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(results) == 20
