"""Adherence (DESIGN §4): sessions per week, and data days in 30-day windows banded as US remote
therapeutic monitoring bands them (<2, 2-15, 16-30), counted in the clinic's calendar days."""

import datetime as dt
import uuid
import zoneinfo

import pytest

from exercises.adherence import (
    AdherenceBand,
    band,
    logged_days,
    monitoring_windows,
    rolling_window,
    sessions_this_week,
    week_of,
)
from exercises.models import Source
from exercises.services import prescription_start, set_log, set_void
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
        patient=prescription.patient,
        prescription=prescription,
        reps=10,
        pain=1,
        performed_at=performed_at,
        client_id=uuid.uuid4(),
        by=prescription.prescribed_by,
        source=Source.APP,
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
    assert window.complete
    assert window.days == (first, TODAY)
    assert window.data_days == 2
    assert window.band == AdherenceBand.DAYS_2_15


def test_monitoring_windows_are_consecutive_30_day_windows(patient, therapist):
    begin = dt.date(2026, 1, 1)
    prescription = start(patient, therapist, at=at(begin, 0, 0))
    # 15 data days in the first window, 16 in the second, 1 in the partial third.
    for i in range(15):
        log(prescription, at(begin + i * DAY))
    for i in range(16):
        log(prescription, at(begin + (30 + i) * DAY))
    log(prescription, at(begin + 60 * DAY))

    windows = monitoring_windows(patient, begin, begin + 65 * DAY)
    assert [(w.first, w.last) for w in windows] == [
        (begin, begin + 29 * DAY),
        (begin + 30 * DAY, begin + 59 * DAY),
        (begin + 60 * DAY, begin + 65 * DAY),
    ]
    assert [w.data_days for w in windows] == [15, 16, 1]
    assert [w.band for w in windows] == [
        AdherenceBand.DAYS_2_15,
        AdherenceBand.DAYS_16_30,
        AdherenceBand.UNDER_2,
    ]
    assert [w.complete for w in windows] == [True, True, False]


def test_monitoring_windows_split_at_day_30_exactly(patient, therapist):
    begin = dt.date(2026, 1, 1)
    prescription = start(patient, therapist, at=at(begin, 0, 0))
    log(prescription, at(begin + 29 * DAY, 23, 0))  # the last day of the first window
    log(prescription, at(begin + 30 * DAY, 0, 30))  # the first day of the second
    windows = monitoring_windows(patient, begin, begin + 40 * DAY)
    assert [w.days for w in windows] == [(begin + 29 * DAY,), (begin + 30 * DAY,)]


def test_no_monitoring_windows_before_monitoring_starts(patient):
    assert monitoring_windows(patient, TODAY + DAY, TODAY) == []


def test_monitoring_that_started_today_has_one_partial_window(patient):
    [window] = monitoring_windows(patient, TODAY, TODAY)
    assert (window.first, window.last, window.complete) == (TODAY, TODAY, False)


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
