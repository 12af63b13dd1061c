"""Many identical set_log calls at once store exactly one row (PostgreSQL: real concurrent writers)."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from exercises import services
from exercises.models import ChangeReason, Prescription, SetLog, StageChange
from patients.services import lock_patient
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
                services.SetLogRequest(
                    patient=patient,
                    prescription=prescription,
                    reps=12,
                    pain=2,
                    performed_at=performed_at,
                    client_id=client_id,
                    by=patient.user,
                    source="app",
                )
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


def test_automatic_advance_gives_way_to_a_therapists_stage_change_without_deadlock(
    reseed_after_flush, transactional_db, patient, therapist
):
    """A set that makes a side ready auto-advances it after taking the prescription's lock; a
    therapist's stage change takes the patient's lock first, then the prescription's. Waiting
    for each other's lock, the two would deadlock: the set's write skips the advance instead,
    both commit, and the therapist's change is the one made."""
    prescription = services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=1),
        auto_advance=True,
    )
    therapist_holds_lock = threading.Event()
    set_stored = threading.Event()
    errors: list[BaseException] = []

    def therapist_changes_stage() -> None:
        try:
            with transaction.atomic():
                lock_patient(patient)  # as every stage change begins
                therapist_holds_lock.set()
                set_stored.wait(timeout=10)
                services.prescription_advance(prescription=prescription, by=therapist)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def patient_logs_a_ready_set() -> None:
        try:
            therapist_holds_lock.wait(timeout=10)
            services.set_log(
                services.SetLogRequest(
                    patient=patient,
                    prescription=prescription,
                    reps=25,
                    pain=0,
                    performed_at=timezone.now() - dt.timedelta(minutes=5),
                    client_id=uuid.uuid4(),
                    by=patient.user,
                    source="app",
                )
            )
            set_stored.set()
        except BaseException as exc:
            errors.append(exc)
            set_stored.set()
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=therapist_changes_stage),
        threading.Thread(target=patient_logs_a_ready_set),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert SetLog.objects.filter(patient=patient, reps=25).count() == 1
    progressed = StageChange.objects.filter(patient=patient, reason=ChangeReason.PROGRESSED)
    assert progressed.count() == 1
    assert progressed.get().by == therapist
    assert Prescription.objects.active().get(patient=patient, side="left").stage.number == 2
