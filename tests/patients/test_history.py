"""The audit history (django-simple-history) of patients and clearance notes: who changed what."""

import datetime as dt

from exercises.services import patient_discharge
from patients.models import Patient
from patients.services import clearance_note_record, patient_create, patient_login_create
from tests.factories import record_clearance

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def create(clinic, therapist, **extra):
    return patient_create(
        clinic=clinic,
        record_number=" MRN-77 ",
        first_name="Ana",
        last_name="Silva",
        date_of_birth=dt.date(1961, 2, 3),
        affected_side="right",
        primary_therapist=therapist,
        by=therapist,
        **extra,
    )


def test_creating_a_patient_records_who_created_them(clinic, therapist):
    patient = create(clinic, therapist)
    [row] = patient.history.all()
    assert row.history_type == "+"
    assert row.history_user == therapist
    assert row.record_number == "MRN-77"


def test_giving_a_patient_a_login_keeps_the_before_and_after(clinic, therapist, colleague):
    patient = create(clinic, therapist)
    user = patient_login_create(patient=patient, username="ana", password=None, by=colleague)
    newest, oldest = patient.history.all()
    assert patient.history.count() == 2
    assert (oldest.user_id, newest.user_id) == (None, user.pk)
    assert newest.history_type == "~"
    assert newest.history_user == colleague
    assert [c.field for c in newest.diff_against(oldest).changes] == ["user"]


def test_discharging_a_patient_keeps_the_before_and_after(clinic, therapist, colleague):
    patient = create(clinic, therapist)
    patient_discharge(patient=patient, by=colleague, at=NOW)
    newest, oldest = patient.history.all()
    assert (oldest.discharged_at, newest.discharged_at) == (None, NOW)
    assert newest.history_user == colleague


def test_every_change_adds_a_row_and_keeps_the_old_ones(clinic, therapist, colleague):
    patient = create(clinic, therapist)
    patient_login_create(patient=patient, username="ana", password=None, by=colleague)
    patient_discharge(patient=patient, by=therapist, at=NOW)
    assert [(r.history_type, r.history_user) for r in patient.history.order_by("history_id")] == [
        ("+", therapist),
        ("~", colleague),
        ("~", therapist),
    ]
    assert Patient.history.filter(id=patient.pk).count() == 3


def test_recording_a_clearance_note_records_who_recorded_it(patient_requiring_clearance, colleague):
    note = record_clearance(
        patient_requiring_clearance,
        by=colleague,
        signed_on=TODAY,
        review_on=TODAY + dt.timedelta(days=60),
    )
    [row] = note.history.all()
    assert (row.history_type, row.history_user) == ("+", colleague)
    assert row.signed_on == TODAY


def test_a_superseding_note_is_a_new_record_and_the_old_one_is_untouched(
    patient_requiring_clearance, therapist
):
    first = record_clearance(
        patient_requiring_clearance, by=therapist, signed_on=TODAY, review_on=TODAY
    )
    clearance_note_record(
        patient=patient_requiring_clearance,
        reason="Review after fracture",
        decision="cleared",
        signed_by_name="Dr. Ada Osei",
        signed_by_credentials="MD",
        signed_on=TODAY,
        review_on=TODAY + dt.timedelta(days=60),
        recorded_by=therapist,
        now=dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC),
    )
    assert first.history.count() == 1
    assert patient_requiring_clearance.clearance_notes.count() == 2
