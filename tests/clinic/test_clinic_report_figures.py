"""The clinic report's figures against hand-computed fixtures (docs/reports.md defines each).

Every test fixes `now`, so none depends on the real date, and runs on SQLite and PostgreSQL alike.
"""

import datetime as dt
import statistics
import zoneinfo

import pytest

from clinic.reports import clinic_figures as figures
from exercises.adherence import AdherenceBand
from exercises.models import PainReview
from exercises.services import (
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_void,
)
from patients.models import Decision
from tests.factories import (
    PatientFactory,
    PrescriptionFactory,
    SetLogFactory,
    record_clearance,
    stage,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=LONDON)


def at(day: int, hour: int = 10, month: int = 6, tz=LONDON) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=tz)


def scope(clinic, first=dt.date(2026, 6, 1), last=dt.date(2026, 6, 30), **kwargs):
    return figures.Scope(clinic=clinic, first=first, last=last, now=NOW, **kwargs)


# -- progression -------------------------------------------------------------------------------


def test_stage_counts_are_taken_at_the_start_and_at_the_end_of_the_range(
    clinic, patient, therapist
):
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=at(1))
    prescription_advance(prescription=rx, by=therapist, at=at(15))
    prescription_start(patient=patient, side="right", stage=stage(3), by=therapist, at=at(20))

    counts = {
        (c.stage.number, c.side): (c.at_start, c.at_end)
        for c in figures.stage_distribution(scope(clinic, first=dt.date(2026, 6, 10)))
    }

    assert counts[(1, "left")] == (1, 0)
    assert counts[(2, "left")] == (0, 1)
    assert counts[(3, "right")] == (0, 1)
    assert counts[(4, "right")] == (0, 0)  # every stage and side is listed, even when empty
    assert len(counts) == 8


def test_a_prescription_ended_before_the_range_is_not_counted(clinic, patient, therapist):
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=at(1))
    prescription_stop(prescription=rx, by=therapist, at=at(5))

    counts = figures.stage_distribution(scope(clinic, first=dt.date(2026, 6, 10)))

    assert all(c.at_start == c.at_end == 0 for c in counts)


def _progressed_after(patient, therapist, side, days, start=None):
    start = start or at(1)
    rx = prescription_start(patient=patient, side=side, stage=stage(1), by=therapist, at=start)
    return prescription_advance(prescription=rx, by=therapist, at=start + dt.timedelta(days=days))


def test_days_at_a_stage_have_the_median_and_quartiles_of_the_progressions(clinic, therapist):
    durations = [10, 20, 30, 40]
    for days in durations:
        patient = PatientFactory(clinic=clinic)
        _progressed_after(patient, therapist, "left", days, start=at(1, month=5))

    (stage_1,) = figures.time_at_stage(scope(clinic, first=dt.date(2026, 5, 1)))

    q1, median, q3 = statistics.quantiles(durations, n=4, method="inclusive")
    assert stage_1.stage.number == 1
    assert stage_1.progressions == 4
    assert (stage_1.shortest, stage_1.longest) == (10, 40)
    assert (stage_1.q1, stage_1.median, stage_1.q3) == pytest.approx((q1, median, q3))
    assert (q1, median, q3) == (17.5, 25, 32.5)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_quartiles_match_linear_interpolation_for_any_count(clinic, therapist, n):
    durations = [1 + 0.4 * i * i for i in range(n)]  # uneven gaps, all within June
    for days in durations:
        _progressed_after(PatientFactory(clinic=clinic), therapist, "right", days)

    (stage_1,) = figures.time_at_stage(scope(clinic))

    expected = statistics.quantiles(durations, n=4, method="inclusive") if n > 1 else [1] * 3
    assert stage_1.progressions == n
    assert [stage_1.q1, stage_1.median, stage_1.q3] == pytest.approx(expected)
    assert (stage_1.shortest, stage_1.longest) == pytest.approx((min(durations), max(durations)))


def test_only_progressions_within_the_range_count_and_regressions_do_not(
    clinic, patient, other_patient, therapist
):
    stage_2 = _progressed_after(patient, therapist, "left", 9)  # progressed on 10 June
    prescription_regress(prescription=stage_2, by=therapist, at=at(20))
    rx = prescription_start(
        patient=other_patient, side="left", stage=stage(1), by=therapist, at=at(1, month=5)
    )
    prescription_advance(prescription=rx, by=therapist, at=at(20, month=5))  # before the range

    result = figures.time_at_stage(scope(clinic))
    changes = figures.changes_by_reason(scope(clinic))

    assert [(t.stage.number, t.progressions, t.median) for t in result] == [(1, 1, 9)]
    assert changes == {"start": 1, "progressed": 1, "regressed": 1, "stopped": 0}


# -- readiness backlog -------------------------------------------------------------------------


def test_a_side_ready_for_longer_than_the_threshold_is_in_the_backlog(
    clinic, patient, other_patient, therapist
):
    waiting = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    SetLogFactory(prescription=waiting, reps=20, pain=3, performed_at=at(19))
    SetLogFactory(prescription=waiting, reps=22, pain=2, performed_at=at(25))
    recent = PrescriptionFactory(patient=other_patient, side="left", started_at=at(1))
    SetLogFactory(prescription=recent, reps=20, pain=0, performed_at=at(26))

    (backlog,) = figures.readiness_backlog(scope(clinic))

    assert backlog.prescription == waiting
    assert backlog.ready_since == at(19)  # the first qualifying set, not the best
    assert backlog.days == 11
    assert backlog.next_stage.number == backlog.prescription.stage.number + 1


def test_sets_that_do_not_meet_the_readiness_rule_do_not_start_the_wait(clinic, patient, therapist):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    SetLogFactory(prescription=rx, reps=19, pain=0, performed_at=at(5))  # too few reps
    SetLogFactory(prescription=rx, reps=25, pain=4, performed_at=at(6))  # pain above 3
    voided = SetLogFactory(prescription=rx, reps=25, pain=0, performed_at=at(7))
    set_void(set_log=voided, by=therapist, reason="Logged twice")

    assert figures.readiness_backlog(scope(clinic)) == []
    assert len(figures.readiness_backlog(scope(clinic, ready_days=0))) == 0


def test_the_backlog_threshold_is_the_reports_choice(clinic, patient):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    SetLogFactory(prescription=rx, reps=20, pain=0, performed_at=at(27))

    assert figures.readiness_backlog(scope(clinic, ready_days=7)) == []
    assert len(figures.readiness_backlog(scope(clinic, ready_days=2))) == 1


# -- pain --------------------------------------------------------------------------------------


def painful(prescription, pain, performed_at, **extra):
    # Reaching the clinic a minute after it was done, as a synced phone does.
    return SetLogFactory(
        prescription=prescription,
        pain=pain,
        performed_at=performed_at,
        logged_at=performed_at + dt.timedelta(minutes=1),
        **extra,
    )


def test_pain_counts_sets_above_5_and_the_patients_who_had_them(
    clinic, patient, other_patient, therapist
):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    other = PrescriptionFactory(patient=other_patient, side="right", started_at=at(1))
    painful(rx, 6, at(2))
    painful(rx, 8, at(3))
    painful(rx, 5, at(4))  # 5 is acceptable
    painful(other, 7, at(28))
    voided = painful(other, 9, at(29))
    set_void(set_log=voided, by=therapist, reason="Wrong patient")
    painful(other, 9, at(31, month=5))  # before the range

    result = figures.pain(scope(clinic))

    assert (result.sets, result.painful_sets, result.painful_patients) == (4, 3, 2)
    # Open alerts: every painful set no therapist has reviewed, whenever it was done (the one
    # before the range too), worst first.
    assert [
        (a.patient, a.side, a.alert.highest_pain, a.alert.sets) for a in result.open_alerts
    ] == [
        (other_patient, "right", 9, 2),
        (patient, "left", 8, 2),
    ]


def test_pain_counts_each_set_against_its_own_threshold(clinic, patient, therapist):
    strict = PrescriptionFactory(
        patient=patient, side="left", started_at=at(1), pain_alert_above=3, pain_ceiling=2
    )
    painful(strict, 4, at(2))
    clinic.pain_alert_above = 6
    clinic.save()
    lenient = PrescriptionFactory(patient=patient, side="right", started_at=at(1))
    painful(lenient, 6, at(3))  # the clinic's threshold is 6: not above it

    result = figures.pain(scope(clinic))

    assert (result.sets, result.painful_sets) == (2, 1)
    assert [(a.side, a.alert.threshold) for a in result.open_alerts] == [("left", 3)]


def test_a_reviewed_alert_is_not_open(clinic, patient, therapist):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    painful(rx, 8, at(20))
    PainReview.objects.create(
        patient=patient,
        side="left",
        outcome="continued",
        by=therapist,
        at=at(21),
        highest_pain=8,
        painful_sets=1,
    )
    assert figures.pain(scope(clinic)).open_alerts == []


# -- adherence ---------------------------------------------------------------------------------


def test_sessions_per_week_count_days_not_sets_against_the_target(clinic, patient):
    rx = PrescriptionFactory(
        patient=patient, side="left", started_at=at(16, hour=0), sessions_per_week=5
    )
    for day in (16, 17, 18, 20, 22, 23, 25, 27):
        SetLogFactory(prescription=rx, performed_at=at(day))
    SetLogFactory(prescription=rx, performed_at=at(16, hour=18))  # the same day again

    (side,) = figures.sessions_per_week(scope(clinic, last=dt.date(2026, 6, 29)))

    assert side.sessions == 8
    assert side.days_prescribed == pytest.approx(14)
    assert side.per_week == pytest.approx(4.0)
    assert side.target == 5
    assert side.met is False


def test_a_target_that_changed_is_weighted_by_the_days_it_applied(clinic, patient, therapist):
    first = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=at(1, hour=0),
        sessions_per_week=7,
    )
    second = prescription_advance(prescription=first, by=therapist, at=at(8, hour=0))
    second.sessions_per_week = 3
    second.save()
    for day in range(1, 15):
        SetLogFactory(prescription=first if day < 8 else second, performed_at=at(day))

    (side,) = figures.sessions_per_week(scope(clinic, last=dt.date(2026, 6, 14)))

    assert side.days_prescribed == pytest.approx(14)
    assert side.target == pytest.approx(5)  # 7 for a week, 3 for a week
    assert side.per_week == pytest.approx(7)
    assert side.met is True


def test_a_side_prescribed_for_less_than_a_week_is_not_judged(clinic, patient):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(26))
    SetLogFactory(prescription=rx, performed_at=at(27))

    (side,) = figures.sessions_per_week(scope(clinic))

    assert not side.judged
    assert side.per_week is None and side.met is None


def _logged_on(rx, days, *, tz=LONDON, month=6, hour=10):
    for day in days:
        SetLogFactory(prescription=rx, performed_at=at(day, hour=hour, month=month, tz=tz))


def test_windows_of_15_and_16_data_days_fall_in_different_bands(clinic, patient):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1, hour=8, month=4))
    _logged_on(rx, range(1, 16), month=4)  # window 1: 1-30 April, 15 days
    _logged_on(rx, range(1, 17), month=5)  # window 2: 1-30 May, 16 days

    windows = figures.monitoring_windows(
        scope(clinic, first=dt.date(2026, 4, 1), last=dt.date(2026, 6, 30))
    )

    assert [(w.number, w.first, w.last, w.data_days, w.band, w.ended) for w in windows] == [
        (1, dt.date(2026, 4, 1), dt.date(2026, 4, 30), 15, AdherenceBand.DAYS_2_15, True),
        (2, dt.date(2026, 5, 1), dt.date(2026, 5, 30), 16, AdherenceBand.DAYS_16_30, True),
        (3, dt.date(2026, 5, 31), dt.date(2026, 6, 29), 0, AdherenceBand.UNDER_2, True),
        # 30 June is today: the fourth window has begun and is still open.
        (4, dt.date(2026, 6, 30), dt.date(2026, 7, 29), 0, AdherenceBand.UNDER_2, False),
    ]


def test_a_data_day_is_a_calendar_day_in_the_clinics_zone_counted_once(clinic, patient):
    auckland = zoneinfo.ZoneInfo("Pacific/Auckland")
    clinic.timezone = "Pacific/Auckland"
    clinic.save()
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1, hour=6, tz=auckland))
    # 00:30 on 3 June in Auckland is still 2 June in UTC; 23:30 on 3 June is 3 June in UTC.
    _logged_on(rx, [3], tz=auckland, hour=0)
    _logged_on(rx, [3], tz=auckland, hour=23)
    SetLogFactory(prescription=rx, side="left", performed_at=at(3, hour=12, tz=auckland))
    _logged_on(rx, [4], tz=auckland, hour=9)

    (window, *_) = figures.monitoring_windows(
        figures.Scope(clinic=clinic, first=dt.date(2026, 6, 1), last=dt.date(2026, 6, 30), now=NOW)
    )

    assert window.first == dt.date(2026, 6, 1)
    assert window.data_days == 2  # 3 and 4 June, however many sets and whatever the UTC date


def test_voided_sets_make_no_data_day(clinic, patient, therapist):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    voided = SetLogFactory(prescription=rx, performed_at=at(2))
    set_void(set_log=voided, by=therapist, reason="Test entry")
    _logged_on(rx, [3])

    (window, *_) = figures.monitoring_windows(scope(clinic))

    assert window.data_days == 1


def test_windows_start_at_the_first_prescription_and_stop_at_discharge(clinic, patient):
    PrescriptionFactory(patient=patient, side="right", started_at=at(10, month=5), ended_at=at(12))
    patient.discharged_at = at(12)
    patient.save()

    windows = figures.monitoring_windows(scope(clinic))

    # 10 May + 30 days = 9 June: the second window runs from 9 June and is cut by discharge.
    assert [(w.number, w.first, w.ended, w.discharged) for w in windows] == [
        (1, dt.date(2026, 5, 10), True, False),
        (2, dt.date(2026, 6, 9), True, True),
    ]


# -- clearance and scope -----------------------------------------------------------------------


def test_clearance_lists_who_waits_and_whose_review_is_due(
    clinic, therapist, patient_requiring_clearance
):
    due = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="hip fracture")
    record_clearance(
        due, by=therapist, signed_on=dt.date(2026, 5, 1), review_on=dt.date(2026, 7, 5)
    )
    cleared = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="fracture")
    record_clearance(
        cleared, by=therapist, signed_on=dt.date(2026, 5, 1), review_on=dt.date(2026, 9, 1)
    )
    refused = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="fracture")
    record_clearance(
        refused,
        by=therapist,
        signed_on=dt.date(2026, 6, 1),
        review_on=dt.date(2026, 9, 1),
        decision=Decision.NOT_CLEARED,
    )

    result = figures.clearance(scope(clinic))

    assert [p for p, _ in result.waiting] == [patient_requiring_clearance, refused]
    assert [(p, note.review_on) for p, note in result.due_for_review] == [
        (due, dt.date(2026, 7, 5))
    ]


def test_a_therapist_scope_holds_only_their_patients(
    clinic, therapist, colleague, patient, other_clinic
):
    theirs = PatientFactory(clinic=clinic, primary_therapist=colleague)
    elsewhere = PatientFactory(clinic=other_clinic)
    for p in (patient, theirs, elsewhere):
        rx = PrescriptionFactory(patient=p, side="left", started_at=at(1))
        SetLogFactory(prescription=rx, pain=7, performed_at=at(2))

    assert figures.pain(scope(clinic)).painful_patients == 2  # never another clinic's
    assert figures.pain(scope(clinic, therapist=colleague)).painful_patients == 1
    assert [s.patient for s in figures.sessions_per_week(scope(clinic, therapist=colleague))] == [
        theirs
    ]


def test_a_discharge_after_the_range_does_not_end_a_window_the_range_sees_open(clinic, patient):
    PrescriptionFactory(patient=patient, side="left", started_at=at(1, month=5), ended_at=at(28))
    patient.discharged_at = at(28)
    patient.save()

    windows = figures.monitoring_windows(scope(clinic, last=dt.date(2026, 6, 15)))

    # Windows: 1-30 May, 31 May-29 June. On 15 June the second one is still open.
    assert [(w.number, w.ended, w.discharged) for w in windows] == [(2, False, False)]


def test_the_backlog_counts_calendar_days_like_days_waiting(clinic, patient):
    rx = PrescriptionFactory(patient=patient, side="left", started_at=at(1))
    SetLogFactory(prescription=rx, reps=20, pain=0, performed_at=at(22, hour=23))  # 8 days ago

    (waiting,) = figures.readiness_backlog(scope(clinic, ready_days=7))

    assert waiting.days == 8
    assert figures.readiness_backlog(scope(clinic, ready_days=8)) == []
