"""The audit history (django-simple-history) of prescriptions, stage changes and set logs."""

import datetime as dt
import uuid

from django.http import HttpResponse
from simple_history.middleware import HistoryRequestMiddleware

from exercises.models import Prescription, SetLog, Source, StageChange
from exercises.services import (
    SetLogRequest,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from tests.factories import stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def start(patient, by, **dose):
    return prescription_start(
        patient=patient, side="left", stage=stage(1), by=by, at=NOW - 7 * DAY, **dose
    )


def log(prescription, *, by, reps=10, pain=1):
    return set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=reps,
            pain=pain,
            performed_at=NOW - HOUR,
            client_id=uuid.uuid4(),
            by=by,
            source=Source.APP,
        ),
        now=NOW,
    ).set_log


def test_starting_a_prescription_records_who_started_it(patient, therapist):
    prescription = start(patient, therapist)
    [row] = prescription.history.all()
    assert (row.history_type, row.history_user) == ("+", therapist)
    assert row.stage_id == stage(1).pk
    [change] = StageChange.history.all()
    assert (change.history_type, change.history_user) == ("+", therapist)


def test_advancing_keeps_the_before_and_after_of_the_ended_prescription(
    patient, therapist, colleague
):
    first = start(patient, therapist)
    second = prescription_advance(prescription=first, by=colleague, at=NOW)

    newest, oldest = first.history.all()
    assert (oldest.ended_at, newest.ended_at) == (None, NOW)
    assert (oldest.history_user, newest.history_user) == (therapist, colleague)
    assert [c.field for c in newest.diff_against(oldest).changes] == ["ended_at"]
    [started] = second.history.all()
    assert (started.history_type, started.history_user) == ("+", colleague)
    assert StageChange.history.filter(history_user=colleague).count() == 1


def test_history_grows_with_every_change_and_keeps_the_old_rows(patient, therapist):
    first = start(patient, therapist)
    second = prescription_advance(prescription=first, by=therapist, at=NOW - 2 * DAY)
    prescription_advance(prescription=second, by=therapist, at=NOW - DAY)
    assert Prescription.history.count() == 5  # 3 starts, 2 ends
    assert first.history.count() == 2
    assert second.history.count() == 2


def test_logging_a_set_records_who_logged_it(patient, therapist):
    prescription = start(patient, therapist)
    own = log(prescription, by=patient.user)
    in_clinic = log(prescription, by=therapist)
    assert [(r.history_type, r.history_user) for r in own.history.all()] == [("+", patient.user)]
    assert [r.history_user for r in in_clinic.history.all()] == [therapist]


def test_voiding_a_set_keeps_the_before_and_after(patient, therapist, colleague):
    prescription = start(patient, therapist)
    row = log(prescription, by=patient.user)
    set_void(set_log=row, by=colleague, reason="Duplicate entry", at=NOW)

    newest, oldest = row.history.all()
    assert row.history.count() == 2
    assert (oldest.voided_at, newest.voided_at) == (None, NOW)
    assert (oldest.void_reason, newest.void_reason) == ("", "Duplicate entry")
    assert (oldest.voided_by_id, newest.voided_by_id) == (None, colleague.pk)
    assert (oldest.history_user, newest.history_user) == (patient.user, colleague)
    assert newest.history_type == "~"
    assert SetLog.objects.filter(pk=row.pk).exists()


def test_an_automatic_advance_is_recorded_with_no_user(patient, therapist):
    auto = start(patient, therapist, auto_advance=True)
    log(auto, by=patient.user, reps=20, pain=0)

    ended = auto.history.latest()
    assert ended.ended_at == NOW
    assert ended.history_user is None
    successor = Prescription.objects.active().get(patient=patient)
    [started] = successor.history.all()
    assert (started.history_type, started.history_user, started.prescribed_by_id) == (
        "+",
        None,
        None,
    )
    change = StageChange.history.get(reason="progressed")
    assert change.history_user is None
    # The set itself was still logged by the patient.
    assert SetLog.history.get().history_user == patient.user


def test_inside_a_patients_request_the_automatic_advance_still_has_no_user(rf, patient, therapist):
    # The middleware records the signed-in user on every row written during a request; the
    # system's own step must not be attributed to the patient who happened to log the set.
    auto = start(patient, therapist, auto_advance=True)
    request = rf.post("/api/v1/me/sets/")
    request.user = patient.user

    def view(request):
        log(auto, by=request.user, reps=20, pain=0)
        return HttpResponse(status=201)

    assert HistoryRequestMiddleware(view)(request).status_code == 201
    assert auto.history.latest().history_user is None
    assert StageChange.history.get(reason="progressed").history_user is None
    assert SetLog.history.get().history_user == patient.user
