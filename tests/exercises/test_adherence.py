"""Adherence (docs/domain.md, "Adherence"): sessions per week, and data days in 30-day windows
banded as US remote therapeutic monitoring bands them (<2, 2-15, 16-30), counted in the clinic's
calendar days."""

import datetime as dt
import uuid
import zoneinfo

import pytest

from exercises.adherence import (
    AdherenceBand,
    WindowStatus,
    band,
    current_window,
    logged_days,
    monitoring_windows,
    patient_current_window,
    rolling_window,
    sessions_this_week,
    week_of,
)
from exercises.models import Source
from exercises.services import SetLogRequest, prescription_start, set_log, set_void
from tests.factories import PatientFactory, stage

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
LONDON = zoneinfo.ZoneInfo("Europe/London")
TODAY = dt.date(2026, 3, 31)  # a Tuesday
START = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def start(patient, by, *, side="left", at=START):
    return prescription_start(patient=patient, side=side, stage=stage(1), by=by, at=at)


def log(prescription, performed_at):
    return set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=10,
            pain=1,
            performed_at=performed_at,
            client_id=uuid.uuid4(),
            by=prescription.prescribed_by,
            source=Source.APP,
        ),
        now=performed_at + dt.timedelta(minutes=1),
    ).set_log


def at(day: dt.date, hour=9, minute=0, tz=LONDON) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


@pytest.fixture
def prescription(patient, therapist):
    return start(patient, therapist)


# -- bands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, AdherenceBand.UNDER_2),
        (1, AdherenceBand.UNDER_2),
        (2, AdherenceBand.DAYS_2_15),
        (15, AdherenceBand.DAYS_2_15),
        (16, AdherenceBand.DAYS_16_30),
        (30, AdherenceBand.DAYS_16_30),
    ],
)
def test_data_days_are_banded_under_2_then_2_to_15_then_16_to_30(days, expected):
    assert band(days) == expected


def test_band_labels_read_as_the_reports_print_them():
    assert [b.label for b in AdherenceBand] == ["<2 days", "2–15 days", "16–30 days"]


# -- data days -------------------------------------------------------------------------------


def test_two_sets_on_one_day_count_as_one_data_day(prescription):
    day = TODAY - 3 * DAY
    log(prescription, at(day, 8))
    log(prescription, at(day, 19))
    assert logged_days(prescription.patient, day, day) == [day]
    assert rolling_window(prescription.patient, TODAY).data_days == 1


def test_sets_on_both_sides_on_one_day_count_as_one_data_day(patient, therapist, prescription):
    right = start(patient, therapist, side="right")
    day = TODAY - 3 * DAY
    log(prescription, at(day, 8))
    log(right, at(day, 8, 30))
    assert rolling_window(patient, TODAY).days == (day,)


def test_a_set_at_2330_in_chicago_counts_on_that_local_day(other_clinic, outsider):
    patient = PatientFactory(clinic=other_clinic, primary_therapist=outsider)
    prescription = start(patient, outsider)
    late = dt.datetime(2026, 3, 2, 23, 30, tzinfo=CHICAGO)
    assert late.astimezone(dt.UTC).date() == dt.date(2026, 3, 3)  # the next UTC day
    log(prescription, late)

    assert logged_days(patient, dt.date(2026, 3, 2), dt.date(2026, 3, 3)) == [dt.date(2026, 3, 2)]
    assert logged_days(patient, dt.date(2026, 3, 3), dt.date(2026, 3, 3)) == []
    assert rolling_window(patient, dt.date(2026, 3, 2)).days == (dt.date(2026, 3, 2),)
    # Monday 2 March: the session counts in that week in Chicago, on that Monday.
    assert sessions_this_week(patient, "left", 5, dt.date(2026, 3, 8)).sessions == 1
    assert sessions_this_week(patient, "left", 5, dt.date(2026, 3, 1)).sessions == 0


def test_a_set_just_after_local_midnight_counts_on_the_new_local_day(other_clinic, outsider):
    patient = PatientFactory(clinic=other_clinic, primary_therapist=outsider)
    prescription = start(patient, outsider)
    log(prescription, dt.datetime(2026, 3, 3, 0, 15, tzinfo=CHICAGO))
    assert logged_days(patient, dt.date(2026, 3, 2), dt.date(2026, 3, 3)) == [dt.date(2026, 3, 3)]


def test_voided_sets_do_not_count(prescription, therapist):
    day = TODAY - 3 * DAY
    voided = log(prescription, at(day))
    set_void(set_log=voided, by=therapist, reason="Logged on the wrong patient", at=at(TODAY))
    assert logged_days(prescription.patient, day, day) == []
    assert rolling_window(prescription.patient, TODAY).data_days == 0


def test_another_patients_sets_do_not_count(prescription, other_patient, therapist):
    theirs = start(other_patient, therapist)
    log(theirs, at(TODAY - DAY))
    assert rolling_window(prescription.patient, TODAY).data_days == 0


# -- windows ---------------------------------------------------------------------------------


def test_the_rolling_window_covers_exactly_the_30_days_ending_today(prescription):
    first = TODAY - 29 * DAY
    log(prescription, at(first - DAY, 23, 59))  # day 31 back: outside
    log(prescription, at(first, 0, 1))  # day 30 back: inside
    log(prescription, at(TODAY, 7))  # today: inside
    window = rolling_window(prescription.patient, TODAY)
    assert (window.first, window.last) == (first, TODAY)
    assert window.days == (first, TODAY)
    assert window.data_days == 2
    assert window.band == AdherenceBand.DAYS_2_15


# -- monitoring windows: one rule ------------------------------------------------------------------

BEGIN = dt.date(2026, 1, 1)


def windows(days=(), *, until, today=None, discharged_on=None, from_day=None):
    return monitoring_windows(
        start=BEGIN,
        days=days,
        until=until,
        today=today or until,
        discharged_on=discharged_on,
        from_day=from_day,
    )


def test_monitoring_windows_are_consecutive_30_day_windows():
    # 15 data days in the first window, 16 in the second, 1 in the partial third.
    days = [BEGIN + i * DAY for i in range(15)]
    days += [BEGIN + (30 + i) * DAY for i in range(16)]
    days += [BEGIN + 60 * DAY]
    found = windows(days, until=BEGIN + 65 * DAY)
    assert [(w.first, w.last, w.until) for w in found] == [
        (BEGIN, BEGIN + 29 * DAY, BEGIN + 29 * DAY),
        (BEGIN + 30 * DAY, BEGIN + 59 * DAY, BEGIN + 59 * DAY),
        (BEGIN + 60 * DAY, BEGIN + 89 * DAY, BEGIN + 65 * DAY),
    ]
    assert [w.data_days for w in found] == [15, 16, 1]
    assert [w.band for w in found] == [
        AdherenceBand.DAYS_2_15,
        AdherenceBand.DAYS_16_30,
        AdherenceBand.UNDER_2,
    ]
    assert [w.status for w in found] == [
        WindowStatus.COMPLETE,
        WindowStatus.COMPLETE,
        WindowStatus.IN_PROGRESS,
    ]
    assert [w.number for w in found] == [1, 2, 3]
    assert found[2].length == 6


def test_monitoring_windows_split_at_day_30_exactly():
    found = windows([BEGIN + 29 * DAY, BEGIN + 30 * DAY], until=BEGIN + 40 * DAY)
    assert [w.days for w in found] == [(BEGIN + 29 * DAY,), (BEGIN + 30 * DAY,)]


def test_no_monitoring_windows_before_monitoring_starts():
    assert windows(until=BEGIN - DAY) == []


def test_monitoring_that_started_today_has_one_partial_window():
    [window] = windows(until=BEGIN)
    assert (window.first, window.until, window.status) == (BEGIN, BEGIN, WindowStatus.IN_PROGRESS)
    assert not window.complete and not window.ended


def test_discharge_ends_monitoring_within_its_window():
    days = [BEGIN + 31 * DAY, BEGIN + 40 * DAY, BEGIN + 50 * DAY]
    found = windows(days, until=BEGIN + 120 * DAY, discharged_on=BEGIN + 45 * DAY)
    assert [w.number for w in found] == [1, 2]  # nothing after the discharge
    last = found[-1]
    assert (last.until, last.status, last.data_days) == (
        BEGIN + 45 * DAY,
        WindowStatus.DISCHARGED,
        2,
    )
    assert last.ended and last.status.label == "ended at discharge"


def test_a_discharge_on_a_windows_last_day_completes_it():
    found = windows(until=BEGIN + 80 * DAY, discharged_on=BEGIN + 29 * DAY)
    assert [w.status for w in found] == [WindowStatus.COMPLETE]


def test_a_period_ending_in_the_past_cuts_its_window():
    [*_, last] = windows(until=BEGIN + 40 * DAY, today=BEGIN + 100 * DAY)
    assert (last.status, last.status.label) == (WindowStatus.CUT, "cut at the end of the period")


def test_from_day_leaves_out_windows_that_ended_before_it():
    found = windows(until=BEGIN + 100 * DAY, from_day=BEGIN + 65 * DAY)
    assert [w.number for w in found] == [3, 4]


def test_a_discharge_before_the_period_leaves_no_window():
    assert (
        windows(until=BEGIN + 100 * DAY, discharged_on=BEGIN + 10 * DAY, from_day=BEGIN + 40 * DAY)
        == []
    )


def test_the_current_window_is_none_after_discharge():
    assert (
        current_window(start=BEGIN, days=(), today=BEGIN + 40 * DAY, discharged_on=BEGIN + 39 * DAY)
        is None
    )
    window = current_window(
        start=BEGIN, days=[BEGIN + 35 * DAY], today=BEGIN + 40 * DAY, discharged_on=None
    )
    assert (window.number, window.data_days, window.length) == (2, 1, 11)


def test_a_patients_windows_are_read_from_their_sets_and_discharge(patient, therapist):
    rx = start(patient, therapist, at=at(BEGIN, 9, 0))
    log(rx, at(BEGIN + 33 * DAY, 23, 30))  # late evening in London is still that day
    patient.discharged_at = at(BEGIN + 40 * DAY, 12)
    patient.save()
    found = [
        patient_current_window(patient, today=day)
        for day in (BEGIN + 29 * DAY, BEGIN + 40 * DAY, BEGIN + 90 * DAY)
    ]
    assert [(w.number, w.status, w.data_days) for w in found if w is not None] == [
        (1, WindowStatus.COMPLETE, 0),
        (2, WindowStatus.DISCHARGED, 1),
    ]
    assert found[2] is None  # monitoring ended at discharge


# -- sessions per week -----------------------------------------------------------------------


def test_weeks_run_monday_to_sunday():
    assert week_of(dt.date(2026, 3, 31)) == (dt.date(2026, 3, 30), dt.date(2026, 4, 5))
    assert week_of(dt.date(2026, 3, 30)) == (dt.date(2026, 3, 30), dt.date(2026, 4, 5))
    assert week_of(dt.date(2026, 4, 5)) == (dt.date(2026, 3, 30), dt.date(2026, 4, 5))


def test_sessions_this_week_count_distinct_days_monday_to_sunday_for_the_side(
    patient, therapist, prescription
):
    right = start(patient, therapist, side="right")
    monday, sunday = dt.date(2026, 3, 30), dt.date(2026, 4, 5)
    log(prescription, at(monday - DAY, 20))  # the Sunday before: last week
    log(prescription, at(monday, 8))
    log(prescription, at(monday, 18))  # same day again
    log(prescription, at(monday + DAY, 8))
    log(prescription, at(sunday, 22))
    log(right, at(monday + 2 * DAY))  # the other side
    log(right, at(monday + 3 * DAY))

    week = sessions_this_week(patient, "left", 5, dt.date(2026, 4, 5))
    assert (week.side, week.sessions, week.target, week.met) == ("left", 3, 5, False)
    assert sessions_this_week(patient, "right", 2, monday).sessions == 2
    assert sessions_this_week(patient, "right", 2, monday).met


def test_a_week_with_the_target_met(prescription):
    monday = dt.date(2026, 3, 30)
    for i in range(5):
        log(prescription, at(monday + i * DAY))
    assert sessions_this_week(prescription.patient, "left", 5, monday + 6 * DAY).met
