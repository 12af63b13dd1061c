"""Logging a set (idempotent, validated, gated by clearance) and voiding one."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError

from exercises.models import ChangeReason, Prescription, SetLog, Source, StageChange
from exercises.progression import AlertKind, is_ready, patient_alerts
from exercises.services import (
    SetLogRequest,
    patient_discharge,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.errors import (
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    PrescriptionEnded,
    PrescriptionPaused,
)
from patients.models import Decision
from tests.factories import record_clearance, stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def start(patient, by, *, side="left", number=1, at=NOW - 7 * DAY, **dose):
    return prescription_start(patient=patient, side=side, stage=stage(number), by=by, at=at, **dose)


def log(prescription, *, patient=None, by=None, client_id=None, now=NOW, **fields):
    patient = patient or prescription.patient
    values = {"reps": 10, "pain": 1, "performed_at": NOW - HOUR, "source": Source.APP, **fields}
    return set_log(
        SetLogRequest(
            patient=patient,
            prescription=prescription,
            client_id=client_id or uuid.uuid4(),
            by=by or patient.user,
            **values,
        ),
        now=now,
    )


def stored() -> tuple[int, int]:
    """Rows and audit-history rows of set logs: what a refused or replayed write must not change."""
    return SetLog.objects.count(), SetLog.history.count()


@pytest.fixture
def prescription(patient, therapist):
    return start(patient, therapist)


# -- storing a set ---------------------------------------------------------------------------


def test_a_new_set_is_created(prescription):
    result = log(prescription, reps=12, pain=2, effort=6, note=" felt fine ")
    assert result.created is True
    row = SetLog.objects.get()
    assert row == result.set_log
    assert (row.reps, row.pain, row.effort, row.note) == (12, 2, 6, "felt fine")
    assert row.performed_at == NOW - HOUR
    assert row.logged_at == NOW
    assert row.logged_by == prescription.patient.user
    assert row.source == Source.APP


def test_the_stage_and_side_are_copied_onto_the_set(patient, therapist):
    right = start(patient, therapist, side="right", number=3)
    row = log(right).set_log
    row.refresh_from_db()
    assert (row.stage, row.side) == (stage(3), "right")


def test_the_copied_stage_stays_after_the_side_advances(prescription, therapist):
    row = log(prescription, performed_at=NOW - 2 * DAY).set_log
    prescription_advance(prescription=prescription, by=therapist, at=NOW - DAY)
    row.refresh_from_db()
    assert row.stage == stage(1)


def test_a_therapist_may_log_on_the_patients_behalf_in_clinic(prescription, therapist):
    row = log(prescription, by=therapist, source=Source.CLINIC).set_log
    assert (row.logged_by, row.source) == (therapist, Source.CLINIC)


def test_a_source_outside_the_choices_is_refused(prescription):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, source="fax")
    assert "source" in excinfo.value.message_dict
    assert stored() == (0, 0)


# -- idempotency -----------------------------------------------------------------------------


def test_replaying_the_same_set_returns_the_stored_one_and_stores_nothing(prescription):
    key = uuid.uuid4()
    first = log(prescription, client_id=key, reps=15, pain=2, effort=5, note="ok")
    before = stored()
    again = log(prescription, client_id=key, reps=15, pain=2, effort=5, note="ok", now=NOW + HOUR)
    assert again.created is False
    assert again.set_log.pk == first.set_log.pk
    assert stored() == before == (1, 1)


def test_a_replay_after_the_prescription_ended_still_returns_the_stored_set(
    prescription, therapist
):
    key = uuid.uuid4()
    first = log(prescription, client_id=key, performed_at=NOW - 2 * DAY)
    prescription_advance(prescription=prescription, by=therapist, at=NOW - DAY)
    prescription.refresh_from_db()
    again = log(prescription, client_id=key, performed_at=NOW - 2 * DAY, now=NOW + 40 * DAY)
    assert (again.created, again.set_log.pk) == (False, first.set_log.pk)


@pytest.mark.parametrize(
    "change",
    [
        {"reps": 11},
        {"pain": 2},
        {"effort": 4},
        {"note": "different"},
        {"performed_at": NOW - 2 * HOUR},
    ],
)
def test_the_same_client_id_with_a_different_payload_is_a_conflict(prescription, change):
    key = uuid.uuid4()
    log(prescription, client_id=key)
    before = stored()
    with pytest.raises(IdempotencyConflict) as excinfo:
        log(prescription, client_id=key, **change)
    assert str(key) in str(excinfo.value)
    assert stored() == before


# A door without a clock (the patient's web page) sends no time: the set is performed now.


def test_a_set_without_a_time_is_performed_when_it_reaches_the_server(prescription):
    row = log(prescription, performed_at=None).set_log
    row.refresh_from_db()
    assert row.performed_at == row.logged_at == NOW


def test_a_double_tap_without_a_time_replays_the_stored_set_and_stores_nothing(prescription):
    key = uuid.uuid4()
    first = log(prescription, client_id=key, performed_at=None, reps=12, note="ok")
    before = stored()
    again = log(
        prescription, client_id=key, performed_at=None, reps=12, note="ok", now=NOW + MINUTE
    )
    assert (again.created, again.set_log.pk) == (False, first.set_log.pk)
    assert again.set_log.performed_at == NOW  # the time of the first tap
    assert stored() == before == (1, 1)


@pytest.mark.parametrize("change", [{"reps": 11}, {"pain": 2}, {"effort": 4}, {"note": "other"}])
def test_a_resubmission_without_a_time_and_other_answers_is_still_a_conflict(prescription, change):
    key = uuid.uuid4()
    log(prescription, client_id=key, performed_at=None)
    before = stored()
    with pytest.raises(IdempotencyConflict):
        log(prescription, client_id=key, performed_at=None, now=NOW + MINUTE, **change)
    assert stored() == before


def test_a_replay_that_gives_a_time_must_give_the_stored_time(prescription):
    key = uuid.uuid4()
    log(prescription, client_id=key, performed_at=None)
    with pytest.raises(IdempotencyConflict):
        log(prescription, client_id=key, performed_at=NOW - HOUR, now=NOW + MINUTE)
    assert log(prescription, client_id=key, performed_at=NOW).created is False


def test_a_request_is_built_from_a_forms_or_serializers_data(prescription, therapist):
    key = uuid.uuid4()
    data = {"prescription": prescription.pk, "client_id": key, "reps": 9, "pain": 1, "note": None}
    request = SetLogRequest.from_input(
        data, patient=prescription.patient, by=therapist, source=Source.WEB
    )
    assert request == SetLogRequest(
        patient=prescription.patient,
        by=therapist,
        source=Source.WEB,
        prescription=prescription.pk,
        client_id=key,
        reps=9,
        pain=1,
        performed_at=None,
        effort=None,
        note="",
    )


def test_the_same_client_id_on_another_side_is_a_conflict(patient, therapist, prescription):
    right = start(patient, therapist, side="right")
    key = uuid.uuid4()
    log(prescription, client_id=key)
    with pytest.raises(IdempotencyConflict):
        log(right, client_id=key)
    assert stored() == (1, 1)


def test_two_patients_may_use_the_same_client_id(prescription, other_patient, therapist):
    theirs = start(other_patient, therapist)
    key = uuid.uuid4()
    assert log(prescription, client_id=key).created
    assert log(theirs, client_id=key).created
    assert SetLog.objects.filter(client_id=key).count() == 2


def test_another_patients_prescription_is_not_found(patient, other_patient, therapist):
    theirs = start(other_patient, therapist)
    with pytest.raises(NotFound) as excinfo:
        log(theirs, patient=patient, by=patient.user)
    assert str(excinfo.value) == "No such prescription for this patient."
    assert stored() == (0, 0)


# -- when the set was performed --------------------------------------------------------------


def test_a_set_more_than_5_minutes_in_the_future_is_refused(prescription):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, performed_at=NOW + 5 * MINUTE + dt.timedelta(seconds=1))
    assert "performed_at" in excinfo.value.message_dict
    assert stored() == (0, 0)


def test_a_set_4_minutes_in_the_future_is_accepted(prescription):
    # A phone's clock may run a little fast.
    assert log(prescription, performed_at=NOW + 4 * MINUTE).created
    row = SetLog.objects.get()
    assert (row.prescription, row.performed_at) == (prescription, NOW + 4 * MINUTE)


def test_a_set_older_than_30_days_is_refused(patient, therapist):
    old = start(patient, therapist, at=NOW - 60 * DAY)
    with pytest.raises(ValidationError) as excinfo:
        log(old, performed_at=NOW - 30 * DAY - MINUTE)
    assert "older than 30 days" in excinfo.value.message_dict["performed_at"][0]
    assert stored() == (0, 0)


def test_a_set_29_days_old_is_accepted(patient, therapist):
    old = start(patient, therapist, at=NOW - 60 * DAY)
    assert log(old, performed_at=NOW - 29 * DAY).created
    row = SetLog.objects.get()
    assert (row.prescription, row.performed_at, row.logged_at) == (old, NOW - 29 * DAY, NOW)


def test_a_set_before_the_prescription_started_is_refused(prescription):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, performed_at=prescription.started_at - MINUTE)
    assert "before the prescription started" in excinfo.value.message_dict["performed_at"][0]
    assert stored() == (0, 0)


def test_a_naive_time_is_refused(prescription):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, performed_at=dt.datetime(2026, 1, 14, 11, 0))
    assert "UTC offset" in excinfo.value.message_dict["performed_at"][0]
    assert stored() == (0, 0)


def test_a_set_performed_after_the_prescription_ended_is_refused(prescription, therapist):
    prescription_advance(prescription=prescription, by=therapist, at=NOW - DAY)
    prescription.refresh_from_db()
    with pytest.raises(PrescriptionEnded) as excinfo:
        log(prescription, performed_at=NOW - HOUR)
    assert "log against the current plan" in str(excinfo.value)
    assert stored() == (0, 0)


def test_a_set_performed_before_the_prescription_ended_and_synced_late_is_accepted(
    prescription, therapist
):
    prescription_advance(prescription=prescription, by=therapist, at=NOW - DAY)
    prescription.refresh_from_db()
    result = log(prescription, performed_at=NOW - 2 * DAY)
    assert result.created
    assert result.set_log.stage == stage(1)
    row = SetLog.objects.get()
    assert (row.prescription, row.stage, row.side) == (prescription, stage(1), "left")
    assert row.performed_at == NOW - 2 * DAY


# -- clearance -------------------------------------------------------------------------------


def test_a_set_on_a_paused_prescription_is_refused_telling_the_patient_to_call(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    paused = start(fracture, therapist, at=NOW - 10 * DAY)
    with pytest.raises(PrescriptionPaused) as excinfo:
        log(paused, by=therapist, performed_at=NOW - HOUR)
    message = str(excinfo.value)
    assert "contact your therapist" in message
    assert "lapsed" in message
    assert stored() == (0, 0)


def test_a_set_done_before_the_clearance_lapsed_is_accepted(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    paused = start(fracture, therapist, at=NOW - 10 * DAY)
    assert log(paused, by=therapist, performed_at=NOW - 2 * DAY).created
    row = SetLog.objects.get()
    assert (row.patient, row.prescription, row.logged_by) == (fracture, paused, therapist)
    assert row.performed_at == NOW - 2 * DAY


def test_a_set_with_clearance_in_force_is_accepted(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + DAY)
    running = start(fracture, therapist, at=NOW - 10 * DAY)
    assert log(running, by=therapist).created
    row = SetLog.objects.get()
    assert (row.patient, row.prescription, row.logged_by) == (fracture, running, therapist)
    assert (row.reps, row.pain, row.performed_at) == (10, 1, NOW - HOUR)


# -- field validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reps", 0),
        ("reps", 101),
        ("pain", -1),
        ("pain", 11),
        ("effort", -1),
        ("effort", 11),
        ("note", "x" * 501),
    ],
)
def test_a_value_out_of_range_is_refused_naming_the_field(prescription, field, value):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, **{field: value})
    assert set(excinfo.value.message_dict) == {field}
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("reps", 1), ("reps", 100), ("pain", 0), ("pain", 10), ("effort", 0), ("note", "x" * 500)],
)
def test_a_value_at_the_edge_of_its_range_is_accepted(prescription, field, value):
    assert log(prescription, **{field: value}).created
    assert getattr(SetLog.objects.get(), field) == value


def test_several_bad_fields_are_all_named(prescription):
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, reps=0, pain=11)
    assert set(excinfo.value.message_dict) == {"reps", "pain"}


# -- automatic advance -----------------------------------------------------------------------


def test_an_opted_in_prescription_advances_when_a_qualifying_set_is_logged(patient, therapist):
    auto = start(patient, therapist, auto_advance=True, target_reps=12)
    result = log(auto, reps=20, pain=2)

    assert result.created
    assert result.set_log.prescription == auto
    auto.refresh_from_db()
    assert auto.ended_at == NOW
    current = Prescription.objects.active().get(patient=patient, side="left")
    assert current.stage == stage(2)
    assert current.prescribed_by is None
    assert (current.auto_advance, current.target_reps) == (True, 12)
    change = StageChange.objects.get(prescription=current)
    assert change.reason == ChangeReason.PROGRESSED
    assert (change.from_stage, change.to_stage) == (stage(1), stage(2))
    assert change.by is None
    assert change.at == NOW
    assert "automatically" in change.note


def test_an_opted_in_prescription_does_not_advance_on_a_set_that_does_not_qualify(
    patient, therapist
):
    auto = start(patient, therapist, auto_advance=True)
    log(auto, reps=19, pain=0)
    log(auto, reps=25, pain=4)
    auto.refresh_from_db()
    assert auto.is_active
    assert StageChange.objects.filter(patient=patient).count() == 1


def test_a_prescription_not_opted_in_stays_ready_for_the_therapist(prescription):
    log(prescription, reps=20, pain=0)
    prescription.refresh_from_db()
    assert prescription.is_active
    assert is_ready(prescription)


def test_automatic_advance_still_passes_the_clearance_gate(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - 30 * DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=1,
    )
    auto = start(fracture, therapist, auto_advance=True)
    result = log(auto, by=therapist, reps=20, pain=0)

    assert result.created
    auto.refresh_from_db()
    assert auto.is_active
    assert StageChange.objects.filter(patient=fracture).count() == 1
    # The therapist is told: ready, and not acted on.
    assert AlertKind.READY in {a.kind for a in patient_alerts(fracture, now=NOW)}


def test_automatic_advance_stops_at_the_top_of_the_ladder(patient, therapist):
    top = start(patient, therapist, number=4, auto_advance=True)
    assert log(top, reps=30, pain=0).created
    top.refresh_from_db()
    assert top.is_active
    assert StageChange.objects.filter(patient=patient).count() == 1


def test_a_late_set_on_an_ended_prescription_does_not_advance_it_again(patient, therapist):
    auto = start(patient, therapist, auto_advance=True)
    log(auto, reps=20, pain=0, performed_at=NOW - 3 * DAY, now=NOW - 3 * DAY)
    auto.refresh_from_db()
    assert log(auto, reps=20, pain=0, performed_at=NOW - 4 * DAY).created
    assert list(
        Prescription.objects.active()
        .filter(patient=patient)
        .values_list("stage__number", flat=True)
    ) == [2]


# -- cost ------------------------------------------------------------------------------------


def test_logging_a_set_takes_a_small_fixed_number_of_queries(
    patient, therapist, django_assert_max_num_queries
):
    prescription = start(patient, therapist)
    # As a view would pass them: fetched with the patient's clinic.
    prescription = Prescription.objects.select_related("stage", "patient__clinic").get(
        pk=prescription.pk
    )
    patient, user = prescription.patient, patient.user
    # Seen: 5 (savepoint; lock the prescription row and re-read its end, with the set stored under
    # the client_id in the same statement; insert; history insert; release savepoint). Outside a
    # test's transaction BEGIN and COMMIT take the savepoint's place: still 5.
    with django_assert_max_num_queries(5):
        log(prescription, patient=patient, by=user)
    with django_assert_max_num_queries(5):
        log(prescription, patient=patient, by=user)
    # A replay reads the stored set with the prescription and writes nothing. Seen: 3.
    key = SetLog.objects.first().client_id
    with django_assert_max_num_queries(3):
        log(prescription, patient=patient, by=user, client_id=key)


# -- voiding ---------------------------------------------------------------------------------


def test_voiding_records_when_who_and_why(prescription, therapist):
    row = log(prescription).set_log
    voided = set_void(set_log=row, by=therapist, reason="  Logged twice  ", at=NOW + HOUR)
    voided.refresh_from_db()
    assert voided.voided_at == NOW + HOUR
    assert voided.voided_by == therapist
    assert voided.void_reason == "Logged twice"
    assert voided.is_voided
    assert SetLog.objects.count() == 1  # stored, never deleted
    assert not SetLog.objects.valid().exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_voiding_needs_a_reason(prescription, therapist, reason):
    row = log(prescription).set_log
    with pytest.raises(ValidationError) as excinfo:
        set_void(set_log=row, by=therapist, reason=reason, at=NOW)
    assert "reason" in excinfo.value.message_dict
    row.refresh_from_db()
    assert not row.is_voided


def test_voiding_twice_is_refused(prescription, therapist, colleague):
    row = log(prescription).set_log
    set_void(set_log=row, by=therapist, reason="Logged twice", at=NOW)
    with pytest.raises(InvalidTransition):
        set_void(set_log=row, by=colleague, reason="Again", at=NOW + HOUR)
    row.refresh_from_db()
    assert (row.voided_by, row.void_reason, row.voided_at) == (therapist, "Logged twice", NOW)


def test_a_voided_set_no_longer_makes_the_side_ready(prescription, therapist):
    row = log(prescription, reps=20, pain=0).set_log
    assert is_ready(prescription)
    set_void(set_log=row, by=therapist, reason="Counted a partial set", at=NOW)
    assert not is_ready(prescription)


# -- stale objects and clocks ----------------------------------------------------------------


def test_a_stale_prescription_object_cannot_take_a_set_after_the_stage_changed(patient, therapist):
    stale = start(patient, therapist)
    fresh = Prescription.objects.get(pk=stale.pk)
    prescription_advance(prescription=fresh, by=therapist, at=NOW - 2 * DAY)
    assert stale.ended_at is None  # the caller's copy predates the change
    before = stored()
    with pytest.raises(PrescriptionEnded):
        log(stale, performed_at=NOW - HOUR)
    assert stored() == before


def test_an_automatic_advance_is_not_dated_before_the_set_that_triggered_it(patient, therapist):
    auto = start(patient, therapist, auto_advance=True)
    fast_clock = NOW + 3 * MINUTE  # a phone running three minutes ahead
    row = log(auto, reps=20, pain=1, performed_at=fast_clock).set_log
    auto.refresh_from_db()
    assert auto.ended_at is not None
    assert row.performed_at <= auto.ended_at
    assert Prescription.objects.active().get(patient=patient, side="left").started_at >= fast_clock


def test_a_naive_time_on_a_replay_is_reported_as_bad_input_not_a_conflict(prescription):
    key = uuid.uuid4()
    log(prescription, client_id=key)
    with pytest.raises(ValidationError) as excinfo:
        log(prescription, client_id=key, performed_at=(NOW - HOUR).replace(tzinfo=None))
    assert not isinstance(excinfo.value, IdempotencyConflict)
    assert "performed_at" in excinfo.value.message_dict


def test_a_discharged_patient_cannot_log_even_a_back_dated_set(prescription, therapist):
    patient = prescription.patient
    patient_discharge(patient=patient, by=therapist, at=NOW - HOUR)
    before = stored()
    with pytest.raises(PrescriptionEnded, match="discharged"):
        log(prescription, by=therapist, performed_at=NOW - 2 * HOUR)
    assert stored() == before
