"""Alerts (docs/domain.md, "Alerts"): pain above the threshold until reviewed, no logs for 7 days,
clearance, ready to progress, with the clinic's and the prescription's own thresholds."""

import datetime as dt
import uuid
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exercises.models import PainOutcome, Source
from exercises.progression import Alert, AlertKind, alerts_for, patient_alerts
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_log,
    set_void,
)
from patients.models import Decision, Patient
from tests.factories import PatientFactory, record_clearance, stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def start(patient, by, *, side="left", number=1, at=NOW - 30 * DAY, **dose):
    return prescription_start(patient=patient, side=side, stage=stage(number), by=by, at=at, **dose)


def log(prescription, *, reps=10, pain=1, performed_at=NOW - HOUR):
    # `now` just after the set: the set was synced when it was done.
    return set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=reps,
            pain=pain,
            performed_at=performed_at,
            client_id=uuid.uuid4(),
            by=prescription.prescribed_by,
            source=Source.CLINIC,
        ),
        now=performed_at + dt.timedelta(minutes=1),
    ).set_log


def kinds(patient, now=NOW) -> list[AlertKind]:
    return [a.kind for a in patient_alerts(patient, now=now)]


def only(patient, kind, now=NOW) -> Alert:
    [alert] = [a for a in patient_alerts(patient, now=now) if a.kind == kind]
    return alert


@pytest.fixture
def prescription(patient, therapist):
    return start(patient, therapist)


def test_a_patient_logging_well_has_no_alerts(prescription):
    log(prescription, reps=12, pain=2)
    assert kinds(prescription.patient) == []


def test_a_patient_with_no_prescription_and_no_clearance_need_has_no_alerts(patient):
    assert kinds(patient) == []


# -- pain ------------------------------------------------------------------------------------


def test_pain_above_5_raises_a_pain_alert_that_asks_for_a_review(prescription):
    log(prescription, pain=6)
    alert = only(prescription.patient, AlertKind.PAIN)
    assert alert.side == "left"
    assert alert.message == (
        "Pain 6/10 on the left side at stage 1 on 14 Jan. Review it: regress one stage, "
        "continue, or refer to the doctor."
    )
    assert alert.label == "Pain above 5"


def test_the_pain_alert_reports_the_worst_pain_and_how_many_sets_wait(prescription):
    log(prescription, pain=9, performed_at=NOW - 3 * DAY)
    log(prescription, pain=7, performed_at=NOW - HOUR)
    message = only(prescription.patient, AlertKind.PAIN).message
    assert "Pain 9/10" in message
    assert "2 sets above 5 not yet reviewed" in message


def test_pain_5_raises_no_pain_alert(prescription):
    log(prescription, pain=5)
    assert AlertKind.PAIN not in kinds(prescription.patient)


def test_an_unreviewed_pain_alert_stays_open_after_a_week(prescription):
    log(prescription, pain=6, performed_at=NOW - 8 * DAY)
    log(prescription, pain=1, performed_at=NOW - HOUR)
    assert AlertKind.PAIN in kinds(prescription.patient)
    assert AlertKind.PAIN in kinds(prescription.patient, now=NOW + 60 * DAY)


def test_a_painful_set_synced_more_than_the_look_back_after_it_was_done_opens_no_alert(
    prescription,
):
    # Done offline 8 days before it reached the clinic: listed and flagged, not rung.
    set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=10,
            pain=8,
            performed_at=NOW - 9 * DAY,
            client_id=uuid.uuid4(),
            by=prescription.prescribed_by,
            source=Source.APP,
        ),
        now=NOW - DAY,
    )
    assert AlertKind.PAIN not in kinds(prescription.patient)


def test_a_painful_set_synced_within_the_look_back_opens_an_alert(prescription):
    set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=10,
            pain=8,
            performed_at=NOW - 7 * DAY,
            client_id=uuid.uuid4(),
            by=prescription.prescribed_by,
            source=Source.APP,
        ),
        now=NOW - DAY,
    )
    assert AlertKind.PAIN in kinds(prescription.patient)


def test_a_voided_painful_set_raises_no_pain_alert(prescription, therapist):
    painful = log(prescription, pain=8)
    set_void(set_log=painful, by=therapist, reason="Meant 3, typed 8", at=NOW)
    assert AlertKind.PAIN not in kinds(prescription.patient)


def test_a_stage_change_does_not_close_the_pain_alert(patient, therapist):
    second = start(patient, therapist, number=2)
    log(second, pain=7, performed_at=NOW - 2 * HOUR)
    first = prescription_regress(prescription=second, by=therapist, at=NOW - HOUR)
    assert AlertKind.PAIN in kinds(patient)
    prescription_advance(prescription=first, by=therapist, at=NOW - HOUR / 2)
    assert only(patient, AlertKind.PAIN).side == "left"


def test_a_review_closes_the_pain_alert_until_the_next_painful_set(patient, therapist):
    second = start(patient, therapist, number=2)
    log(second, pain=7, performed_at=NOW - 2 * DAY)
    pain_review_record(
        patient=patient, side="left", outcome=PainOutcome.CONTINUED, by=therapist, at=NOW - DAY
    )
    assert AlertKind.PAIN not in kinds(patient)
    log(second, pain=8, performed_at=NOW - HOUR)
    assert "Pain 8/10" in only(patient, AlertKind.PAIN).message


def test_a_clinic_that_alerts_above_4_alerts_at_5(prescription):
    clinic = prescription.patient.clinic
    clinic.pain_ceiling, clinic.pain_alert_above = 2, 4
    clinic.save()
    log(prescription, pain=5)
    assert only(prescription.patient, AlertKind.PAIN).label == "Pain above 4"


def test_a_prescription_may_set_its_own_alert_threshold(patient, therapist):
    tolerant = start(patient, therapist, pain_alert_above=6)
    log(tolerant, pain=6)
    assert AlertKind.PAIN not in kinds(patient)
    log(tolerant, pain=7)
    assert only(patient, AlertKind.PAIN).label == "Pain above 6"


# -- no logs ---------------------------------------------------------------------------------


def test_no_logs_for_7_days_raises_an_alert(prescription):
    log(prescription, performed_at=NOW - 7 * DAY)
    alert = only(prescription.patient, AlertKind.NO_LOGS)
    assert "No sets logged for 7 days (last on 07 Jan)" in alert.message
    assert alert.side is None


def test_no_logs_for_6_days_raises_no_alert(prescription):
    log(prescription, performed_at=NOW - 6 * DAY)
    assert AlertKind.NO_LOGS not in kinds(prescription.patient)


def test_a_voided_set_does_not_count_as_a_log(prescription, therapist):
    log(prescription, performed_at=NOW - 10 * DAY)
    recent = log(prescription, performed_at=NOW - DAY)
    set_void(set_log=recent, by=therapist, reason="Wrong patient", at=NOW)
    assert "No sets logged for 10 days" in only(prescription.patient, AlertKind.NO_LOGS).message


def test_no_logs_since_a_plan_started_7_days_ago_raises_an_alert(patient, therapist):
    start(patient, therapist, at=NOW - 7 * DAY)
    message = only(patient, AlertKind.NO_LOGS).message
    assert message == "No sets logged since the plan started 7 days ago."


def test_no_logs_since_a_plan_started_6_days_ago_raises_no_alert(patient, therapist):
    start(patient, therapist, at=NOW - 6 * DAY)
    assert kinds(patient) == []


def test_no_logs_counts_from_the_latest_start_when_it_is_more_recent(prescription, therapist):
    log(prescription, performed_at=NOW - 20 * DAY)
    assert AlertKind.NO_LOGS in kinds(prescription.patient)
    prescription_advance(prescription=prescription, by=therapist, at=NOW - 3 * DAY)
    assert AlertKind.NO_LOGS not in kinds(prescription.patient)
    assert AlertKind.NO_LOGS in kinds(prescription.patient, now=NOW + 4 * DAY)


def test_no_logs_counts_the_clinics_calendar_days(other_clinic, outsider):
    patient = PatientFactory(clinic=other_clinic, primary_therapist=outsider)
    prescription = start(patient, outsider, at=NOW - 30 * DAY)
    # 23:30 on Monday 5 January in Chicago is already Tuesday 6 January in UTC.
    log(prescription, performed_at=dt.datetime(2026, 1, 5, 23, 30, tzinfo=CHICAGO))
    # Noon on Monday 12 January in Chicago: seven local calendar days later, though only six and
    # a half days have passed and only six UTC dates.
    now = dt.datetime(2026, 1, 12, 12, 0, tzinfo=CHICAGO).astimezone(dt.UTC)
    assert (
        "No sets logged for 7 days (last on 05 Jan)"
        in only(patient, AlertKind.NO_LOGS, now).message
    )
    assert AlertKind.NO_LOGS not in kinds(patient, now - 13 * HOUR)  # 23:00 on Sunday 11th


def test_a_stopped_side_raises_no_no_logs_alert(prescription, therapist):
    prescription_stop(prescription=prescription, by=therapist, at=NOW - 20 * DAY)
    assert kinds(prescription.patient) == []


def test_no_logs_is_not_raised_for_a_paused_side(patient_requiring_clearance, therapist):
    patient = patient_requiring_clearance
    record_clearance(patient, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - 10 * DAY)
    start(patient, therapist, at=NOW - 30 * DAY)
    assert kinds(patient) == [AlertKind.CLEARANCE_LAPSED]


# -- clearance -------------------------------------------------------------------------------


def test_clearance_missing_raises_an_alert(fracture):
    alert = only(fracture, AlertKind.CLEARANCE_MISSING)
    assert "none is recorded" in alert.message
    assert alert.side is None


def test_a_not_cleared_note_raises_a_clearance_missing_alert(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.NOT_CLEARED,
    )
    assert "Not cleared by Dr. Ada Osei" in only(fracture, AlertKind.CLEARANCE_MISSING).message


def test_a_lapsed_clearance_raises_a_lapsed_alert(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    assert "lapsed" in only(fracture, AlertKind.CLEARANCE_LAPSED).message
    assert AlertKind.CLEARANCE_MISSING not in kinds(fracture)


def test_a_review_within_7_days_raises_a_review_due_alert(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + 7 * DAY)
    assert "21 Jan 2026" in only(fracture, AlertKind.CLEARANCE_REVIEW_DUE).message


def test_a_review_in_8_days_raises_no_alert(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + 8 * DAY)
    assert kinds(fracture) == []


def test_clearance_alerts_follow_the_clinics_day(other_clinic, outsider):
    patient = PatientFactory(
        clinic=other_clinic, requires_clearance=True, clearance_reason="pelvic fracture"
    )
    record_clearance(patient, by=outsider, signed_on=TODAY - 60 * DAY, review_on=TODAY - DAY)
    # 18:00 on the 13th in Chicago is already the 14th in UTC: still the review date locally.
    evening = dt.datetime(2026, 1, 13, 18, 0, tzinfo=CHICAGO).astimezone(dt.UTC)
    assert AlertKind.CLEARANCE_LAPSED not in kinds(patient, evening)
    assert AlertKind.CLEARANCE_REVIEW_DUE in kinds(patient, evening)


def test_a_side_above_the_stage_allowed_raises_stage_not_allowed_for_that_side(fracture, therapist):
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + 60 * DAY)
    start(fracture, therapist, side="left", number=2, at=NOW - 30 * DAY)
    start(fracture, therapist, side="right", number=3, at=NOW - 2 * DAY)
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
    )

    alert = only(fracture, AlertKind.STAGE_NOT_ALLOWED)
    assert alert.side == "right"
    assert "allows up to stage 2, not stage 3" in alert.message
    assert AlertKind.CLEARANCE_MISSING not in kinds(fracture)
    # The right side is paused, so its recent start does not count for "no logs": the left side
    # has been silent since its start 30 days ago.
    assert "since the plan started 30 days ago" in only(fracture, AlertKind.NO_LOGS).message


# -- ready -----------------------------------------------------------------------------------


def test_a_ready_side_raises_a_ready_alert(prescription):
    log(prescription, reps=20, pain=1)
    alert = only(prescription.patient, AlertKind.READY)
    assert alert.side == "left"
    assert "20+ reps at stage 1" in alert.message
    assert "ready for stage 2" in alert.message


def test_a_ready_side_at_stage_4_says_the_ladder_is_complete(patient, therapist):
    top = start(patient, therapist, number=4)
    log(top, reps=20, pain=0)
    alert = only(patient, AlertKind.READY)
    assert "ladder is complete" in alert.message
    assert "stage 5" not in alert.message
    assert alert.label == "Ladder complete"


def test_a_ready_side_below_the_top_is_labelled_ready_to_progress(prescription):
    log(prescription, reps=20, pain=1)
    assert only(prescription.patient, AlertKind.READY).label == "Ready to progress"


def test_acting_on_readiness_clears_the_ready_alert(prescription, therapist):
    log(prescription, reps=20, pain=0, performed_at=NOW - 2 * HOUR)
    prescription_advance(prescription=prescription, by=therapist, at=NOW - HOUR)
    assert AlertKind.READY not in kinds(prescription.patient)


def test_alerts_are_listed_most_urgent_first(patient, therapist):
    left = start(patient, therapist, side="left", number=2)
    start(patient, therapist, side="right", number=1, at=NOW - 10 * DAY)
    log(left, reps=20, pain=0, performed_at=NOW - 9 * DAY)
    log(left, reps=8, pain=7, performed_at=NOW - 8 * DAY)
    # The painful set after the ready one withdrew readiness.
    assert kinds(patient, NOW - 2 * DAY) == [AlertKind.PAIN]
    assert kinds(patient, NOW) == [AlertKind.PAIN, AlertKind.NO_LOGS]
    log(left, reps=21, pain=1, performed_at=NOW - HOUR)
    assert kinds(patient, NOW) == [AlertKind.PAIN, AlertKind.READY]


def test_alerts_for_keeps_each_patients_alerts_apart(prescription, other_patient, therapist):
    theirs = start(other_patient, therapist)
    log(prescription, reps=20, pain=0)
    log(theirs, pain=8)
    result = alerts_for(
        Patient.objects.filter(pk__in=[prescription.patient.pk, other_patient.pk]).select_related(
            "clinic"
        ),
        now=NOW,
    )
    assert [a.kind for a in result[prescription.patient.pk]] == [AlertKind.READY]
    assert [a.kind for a in result[other_patient.pk]] == [AlertKind.PAIN]


# -- cost ------------------------------------------------------------------------------------


def _caseload(clinic, therapist, n):
    patients = []
    for i in range(n):
        patient = PatientFactory(
            clinic=clinic,
            primary_therapist=therapist,
            requires_clearance=i % 2 == 0,
            clearance_reason="pelvic fracture" if i % 2 == 0 else "",
        )
        if patient.requires_clearance:
            record_clearance(
                patient, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + 3 * DAY
            )
        left = start(patient, therapist, side="left", number=1 + i % 4)
        start(patient, therapist, side="right", number=1)
        log(left, reps=10 + i, pain=i % 8)
        patients.append(patient)
    return patients


def test_alerts_for_a_caseload_take_the_same_queries_for_3_or_12_patients(clinic, therapist):
    patients = _caseload(clinic, therapist, 12)
    counts = []
    for n in (3, 12):
        caseload = Patient.objects.filter(pk__in=[p.pk for p in patients[:n]]).select_related(
            "clinic"
        )
        caseload = list(caseload)
        with CaptureQueriesContext(connection) as queries:
            result = alerts_for(caseload, now=NOW)
        assert len(result) == n
        counts.append(len(queries))
    # Seen: 5 (active prescriptions with their state, the ladder's stages, clearance notes, last
    # logs, open pain alerts).
    assert counts == [5, 5]


def test_pain_synced_after_the_stage_changed_alerts(patient, therapist):
    first = start(patient, therapist)
    prescription_advance(prescription=first, by=therapist, at=NOW - 3 * HOUR)
    # Done offline at the old stage before the advance, reaching the server only now.
    set_log(
        SetLogRequest(
            patient=patient,
            prescription=first,
            reps=12,
            pain=9,
            performed_at=NOW - 4 * HOUR,
            client_id=uuid.uuid4(),
            by=patient.user,
            source=Source.APP,
        ),
        now=NOW - HOUR,
    )
    alert = only(patient, AlertKind.PAIN)
    assert alert.side == "left"
    assert "Pain 9/10" in alert.message


def test_pain_on_the_other_side_does_not_alert_this_side(patient, therapist):
    start(patient, therapist, side="left")
    right = start(patient, therapist, side="right")
    log(right, pain=7)
    assert [a.side for a in patient_alerts(patient, now=NOW) if a.kind == AlertKind.PAIN] == [
        "right"
    ]


def test_a_clinic_with_three_silent_days_alerts_after_three(prescription):
    clinic = prescription.patient.clinic
    clinic.silent_days = 3
    clinic.save()
    log(prescription, performed_at=NOW - 3 * DAY)
    assert only(prescription.patient, AlertKind.NO_LOGS).label == "No logs for 3 days"


def test_a_clinic_with_a_longer_review_warning_flags_the_clearance_sooner(fracture, therapist):
    fracture.clinic.review_soon_days = 14
    fracture.clinic.save()
    record_clearance(fracture, by=therapist, signed_on=TODAY - 60 * DAY, review_on=TODAY + 14 * DAY)
    assert AlertKind.CLEARANCE_REVIEW_DUE in kinds(fracture)


def test_ready_with_the_next_stage_ruled_out_says_why(fracture, therapist):
    record_clearance(
        fracture,
        by=therapist,
        signed_on=TODAY - 40 * DAY,
        review_on=TODAY + 60 * DAY,
        decision=Decision.RESTRICTED,
        precautions=("no_internal_rotation",),
        operated_side="left",
    )
    first = start(fracture, therapist, side="left", number=1)
    log(first, reps=20, pain=0)
    alert = only(fracture, AlertKind.READY)
    assert alert.label == "Ready, next stage not allowed"
    assert "but stage 2 is not allowed: Stage 2 turns the left hip inwards" in alert.message
