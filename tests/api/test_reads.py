"""What a patient reads: me/, me/plan/, me/progress/ and their own set history (me/sets/)."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from exercises.api.serializers import pain_key
from exercises.api.views import monitoring_window_today
from exercises.models import SetLog
from exercises.services import (
    SetLogRequest,
    patient_discharge,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.models import Decision
from patients.thresholds import PAIN_MAX, Thresholds
from tests.api.helpers import SETS_URL, a_set, assert_error, client_for, start
from tests.factories import PatientFactory, SetLogFactory, UserFactory, record_clearance, stage

DAY = dt.timedelta(days=1)


def local_moment(patient, days_ago: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A moment on the clinic's calendar day `days_ago` days back (never in the future).

    Built from the clinic's calendar, not by subtracting 24 hours, so a DST change cannot move a
    set to another day."""
    tz = patient.clinic.tzinfo
    now = timezone.now()
    day = patient.clinic.local_date(now) - dt.timedelta(days=days_ago)
    moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)
    if days_ago == 0:
        # Today: a minute ago, but not before the day began.
        return max(dt.datetime.combine(day, dt.time.min, tzinfo=tz), now - dt.timedelta(minutes=1))
    return moment


def log(client, prescription, **fields):
    if isinstance(fields.get("performed_at"), dt.datetime):
        fields["performed_at"] = fields["performed_at"].isoformat()
    response = client.post(SETS_URL, a_set(prescription, **fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    "url", ["/api/v1/me/", "/api/v1/me/plan/", "/api/v1/me/progress/", SETS_URL]
)
def test_a_therapist_of_another_clinic_reads_nothing(outsider_client, prescription, url):
    response = outsider_client.get(url)
    assert_error(response, 403, "permission_denied")
    assert "Maya" not in response.content.decode()


# -- me/ ---------------------------------------------------------------------------------------


def test_me_names_the_patient_their_clinic_and_therapist(patient_client, patient, therapist):
    therapist.first_name, therapist.last_name = "Sam", "Okafor"
    therapist.save()
    body = patient_client.get("/api/v1/me/").json()
    assert body == {
        "id": patient.pk,
        "first_name": "Maya",
        "last_name": "Lindqvist",
        "record_number": patient.record_number,
        "clinic": {"name": "Riverside Physio", "timezone": "Europe/London"},
        "therapist": {"name": "Sam Okafor"},
    }


def test_me_without_a_therapist_says_so(patient_client, patient):
    patient.primary_therapist = None
    patient.save()
    assert patient_client.get("/api/v1/me/").json()["therapist"] is None


# -- me/plan/ ----------------------------------------------------------------------------------


def sides(body):
    return {side["side"]: side for side in body["sides"]}


def test_the_plan_shows_the_stage_content_and_targets(patient_client, prescription):
    plan = sides(patient_client.get("/api/v1/me/plan/").json())

    left = plan["left"]
    assert (left["status"], left["status_reason"]) == ("active", None)
    assert (left["ready_to_progress"], left["ladder_complete"]) == (False, False)
    p = left["prescription"]
    assert p["id"] == prescription.pk
    assert (p["target_sets"], p["target_reps"], p["sessions_per_week"]) == (3, 10, 5)
    assert (p["progress_at_reps"], p["pain_ceiling"]) == (20, 3)  # Boren 2011; pain 0-3 safe
    assert p["stage"]["number"] == 1
    assert p["stage"]["gmed_mvic_percent"] == 47
    assert p["stage"]["intensity_band"] == "high"
    assert p["stage"]["movement"]
    # No exercise on the right side.
    assert plan["right"] == {
        "side": "right",
        "status": "none",
        "status_reason": None,
        "ready_to_progress": False,
        "ladder_complete": False,
        "next_stage_blocked": False,
        "prescription": None,
    }


def test_a_paused_side_says_so_and_why_while_the_other_side_is_ready(
    fracture_with_login, therapist
):
    today = fracture_with_login.clinic.local_date(timezone.now())
    record_clearance(
        fracture_with_login, by=therapist, signed_on=today - 20 * DAY, review_on=today + 60 * DAY
    )
    start(fracture_with_login, therapist, side="left", number=2, days_ago=10)
    right = start(fracture_with_login, therapist, side="right", number=1, days_ago=10)
    # The medical team now limits the patient to stage 1: the left side (stage 2) is paused.
    record_clearance(
        fracture_with_login,
        by=therapist,
        signed_on=today - 2 * DAY,
        review_on=today + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=1,
    )
    client = client_for(fracture_with_login.user)
    log(client, right, reps=20, pain=1)

    plan = sides(client.get("/api/v1/me/plan/").json())

    assert plan["left"]["status"] == "paused"
    assert "allows exercises up to stage 1" in plan["left"]["status_reason"]
    assert "before stage 2" in plan["left"]["status_reason"]
    assert plan["left"]["prescription"]["stage"]["number"] == 2
    assert plan["right"]["status"] == "active"
    assert plan["right"]["status_reason"] is None
    assert (plan["right"]["ready_to_progress"], plan["right"]["ladder_complete"]) == (True, False)


def test_a_lapsed_clearance_pauses_the_plan(fracture_with_login, therapist):
    today = fracture_with_login.clinic.local_date(timezone.now())
    record_clearance(
        fracture_with_login, by=therapist, signed_on=today - 40 * DAY, review_on=today - 2 * DAY
    )
    start(fracture_with_login, therapist, days_ago=10)
    left = sides(client_for(fracture_with_login.user).get("/api/v1/me/plan/").json())["left"]
    assert left["status"] == "paused"
    assert "lapsed" in left["status_reason"]


def test_a_set_below_the_progression_rule_does_not_make_the_side_ready(
    patient_client, prescription
):
    log(patient_client, prescription, reps=19, pain=0)
    log(patient_client, prescription, reps=25, pain=4)  # enough reps, too much pain
    left = sides(patient_client.get("/api/v1/me/plan/").json())["left"]
    assert left["ready_to_progress"] is False


def test_ready_at_the_top_stage_means_the_ladder_is_complete(patient_client, patient, therapist):
    top = start(patient, therapist, number=4)
    log(patient_client, top, reps=20, pain=3)
    left = sides(patient_client.get("/api/v1/me/plan/").json())["left"]
    assert left["prescription"]["stage"]["number"] == 4
    assert left["prescription"]["stage"]["gmed_mvic_percent"] == 76
    assert (left["ready_to_progress"], left["ladder_complete"]) == (True, True)


# -- me/progress/ ------------------------------------------------------------------------------


def test_progress_reports_best_reps_sessions_data_days_and_history(
    patient_client, patient, therapist
):
    first = start(patient, therapist, days_ago=10)
    log(patient_client, first, reps=25, pain=1, performed_at=local_moment(patient, 5))
    second = prescription_advance(prescription=first, by=therapist, at=timezone.now() - 3 * DAY)
    log(patient_client, second, reps=15, performed_at=local_moment(patient, 1))
    log(patient_client, second, reps=18, performed_at=local_moment(patient, 0))
    log(patient_client, second, reps=12, performed_at=local_moment(patient, 0))

    body = patient_client.get("/api/v1/me/progress/").json()

    assert body["data_days_last_30"] == 3
    assert body["adherence_band"] == "2_15"
    left = sides(body)["left"]
    assert (left["stage"], left["status"]) == (2, "active")
    assert left["best_reps_at_stage"] == 18  # the 25 reps were at stage 1
    assert (left["progress_at_reps"], left["ready_to_progress"]) == (20, False)
    today = patient.clinic.local_date(timezone.now())
    monday = today - dt.timedelta(days=today.weekday())
    this_week = {d for d in (today, today - DAY, today - 5 * DAY) if d >= monday}
    assert left["sessions_this_week"] == len(this_week)
    assert left["sessions_per_week_target"] == 5
    assert [(h["from_stage"], h["to_stage"], h["reason"]) for h in left["history"]] == [
        (None, 1, "start"),
        (1, 2, "progressed"),
    ]
    right = sides(body)["right"]
    assert (right["stage"], right["status"], right["history"]) == (None, "none", [])
    assert (right["best_reps_at_stage"], right["sessions_this_week"]) == (None, 0)


def test_progress_without_any_set(patient_client, prescription):
    body = patient_client.get("/api/v1/me/progress/").json()
    assert (body["data_days_last_30"], body["adherence_band"]) == (0, "under_2")
    left = sides(body)["left"]
    assert (left["best_reps_at_stage"], left["sessions_this_week"]) == (None, 0)


def test_a_voided_set_counts_for_nothing_in_progress(patient_client, therapist, prescription):
    row = log(patient_client, prescription, reps=22, pain=0)
    set_void(set_log=SetLog.objects.get(pk=row["id"]), by=therapist, reason="Logged twice")
    body = patient_client.get("/api/v1/me/progress/").json()
    left = sides(body)["left"]
    assert (left["best_reps_at_stage"], left["ready_to_progress"]) == (None, False)
    assert body["data_days_last_30"] == 0


# -- me/sets/ ----------------------------------------------------------------------------------


def test_the_history_lists_newest_first(patient_client, patient, prescription):
    now = timezone.now()
    for minutes in (30, 5, 90, 10):
        log(
            patient_client,
            prescription,
            reps=minutes,
            performed_at=now - dt.timedelta(minutes=minutes),
        )
    body = patient_client.get(SETS_URL).json()
    assert [s["reps"] for s in body["results"]] == [5, 10, 30, 90]
    assert body["count"] == 4


def test_the_history_shows_a_voided_set_as_voided(patient_client, therapist, prescription):
    row = log(patient_client, prescription)
    set_void(set_log=SetLog.objects.get(pk=row["id"]), by=therapist, reason="Logged twice")
    listed = patient_client.get(SETS_URL).json()["results"][0]
    assert (listed["voided"], listed["void_reason"]) == (True, "Logged twice")


def test_the_history_is_paginated(patient_client, prescription):
    now = timezone.now()
    for i in range(5):
        log(patient_client, prescription, reps=10 + i, performed_at=now - dt.timedelta(minutes=i))
    first = patient_client.get(SETS_URL, {"page_size": 2}).json()
    assert first["count"] == 5
    assert [s["reps"] for s in first["results"]] == [10, 11]
    assert first["previous"] is None
    second = patient_client.get(first["next"]).json()
    assert [s["reps"] for s in second["results"]] == [12, 13]
    last = patient_client.get(SETS_URL, {"page_size": 2, "page": 3}).json()
    assert ([s["reps"] for s in last["results"]], last["next"]) == ([14], None)
    assert_error(patient_client.get(SETS_URL, {"page_size": 2, "page": 4}), 404, "not_found")


def test_the_history_filters_by_side(patient_client, patient, therapist, prescription):
    right = start(patient, therapist, side="right")
    log(patient_client, prescription, reps=11)
    log(patient_client, right, reps=22)
    body = patient_client.get(SETS_URL, {"side": "right"}).json()
    assert [(s["side"], s["reps"]) for s in body["results"]] == [("right", 22)]


def test_the_date_filters_use_the_clinics_calendar(chicago_patient, outsider):
    """23:30 in Chicago is the next day in UTC; the patient's day is Chicago's."""
    prescription = start(chicago_patient, outsider, days_ago=6)
    client = client_for(chicago_patient.user)
    late = local_moment(chicago_patient, 3, hour=23, minute=30)
    early_next_day = local_moment(chicago_patient, 2, hour=0, minute=30)
    assert late.astimezone(dt.UTC).date() == early_next_day.date()  # the same UTC day
    log(client, prescription, reps=11, performed_at=late)
    log(client, prescription, reps=22, performed_at=early_next_day)
    day = late.date()

    def listed(**params):
        body = client.get(SETS_URL, {k: v.isoformat() for k, v in params.items()}).json()
        return [s["reps"] for s in body["results"]]

    assert listed(date_from=day, date_to=day) == [11]
    assert listed(date_from=day + DAY, date_to=day + DAY) == [22]
    assert listed(date_from=day) == [22, 11]
    assert listed(date_to=day) == [11]
    assert listed(date_to=day - DAY) == []
    assert listed(date_from=day + 2 * DAY) == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("side", "middle"),
        ("date_from", "yesterday"),
        ("date_to", "2026-02-30"),
        ("date_from", "24-11-2026"),
    ],
)
def test_an_invalid_filter_value_is_refused_naming_it(patient_client, param, value):
    error = assert_error(patient_client.get(SETS_URL, {param: value}), 400, "invalid")
    assert param in error["fields"]


@pytest.mark.parametrize("zone", ["Europe/London", "America/Chicago", "Asia/Tokyo"])
@pytest.mark.parametrize(
    ("param", "value"), [("date_to", "9999-12-31"), ("date_from", "0001-01-01")]
)
def test_the_first_and_last_days_of_the_calendar_are_open_bounds(
    clinic, therapist, param, value, zone
):
    """Not a server error: in Tokyo the first day of year 1 begins before UTC's calendar does."""
    clinic.timezone = zone
    clinic.save()
    patient = PatientFactory(clinic=clinic, user=UserFactory(username="kenji"))
    client = client_for(patient.user)
    log(client, start(patient, therapist))
    response = client.get(SETS_URL, {param: value})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


def test_the_page_size_is_at_most_200(patient_client, prescription):
    assert patient_client.get(SETS_URL, {"page_size": 200}).status_code == 200
    error = assert_error(patient_client.get(SETS_URL, {"page_size": 201}), 400, "invalid")
    assert "page_size" in error["fields"]


def test_the_plan_carries_the_therapists_notes(patient_client, patient, therapist):
    prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - DAY,
        notes="Use a firm surface, not a soft mattress.",
    )
    plan = sides(patient_client.get("/api/v1/me/plan/").json())
    assert plan["left"]["prescription"]["notes"] == "Use a firm surface, not a soft mattress."


# -- the thresholds in force and the pain key (me/plan/) ---------------------------------------


def test_the_plan_carries_the_default_thresholds_and_pain_key(patient_client, prescription):
    p = sides(patient_client.get("/api/v1/me/plan/").json())["left"]["prescription"]

    assert (p["progress_at_reps"], p["pain_ceiling"], p["pain_alert_above"]) == (20, 3, 5)
    assert p["pain_key"] == [
        {"band": "none", "lowest": 0, "highest": 0, "scores": "0", "words": "no pain"},
        {"band": "safe", "lowest": 1, "highest": 3, "scores": "1–3", "words": "mild: fine"},
        {
            "band": "acceptable",
            "lowest": 4,
            "highest": 5,
            "scores": "4–5",
            "words": "moderate: acceptable",
        },
        {
            "band": "too_much",
            "lowest": 6,
            "highest": 10,
            "scores": "6+",
            "words": "too much: stop and tell your therapist",
        },
    ]


def test_the_plan_shows_a_clinics_own_thresholds_and_key(patient_client, clinic, prescription):
    clinic.progress_at_reps, clinic.pain_ceiling, clinic.pain_alert_above = 15, 2, 4
    clinic.save()

    p = sides(patient_client.get("/api/v1/me/plan/").json())["left"]["prescription"]

    assert (p["progress_at_reps"], p["pain_ceiling"], p["pain_alert_above"]) == (15, 2, 4)
    assert [(b["band"], b["lowest"], b["highest"], b["scores"]) for b in p["pain_key"]] == [
        ("none", 0, 0, "0"),
        ("safe", 1, 2, "1–2"),
        ("acceptable", 3, 4, "3–4"),
        ("too_much", 5, 10, "5+"),
    ]


def test_a_prescriptions_own_thresholds_win_on_its_side_only(
    patient_client, patient, therapist, prescription
):
    prescription_start(
        patient=patient,
        side="right",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - DAY,
        progress_at_reps=12,
        pain_ceiling=4,
        pain_alert_above=4,
    )

    plan = sides(patient_client.get("/api/v1/me/plan/").json())
    right, left = plan["right"]["prescription"], plan["left"]["prescription"]

    assert (right["progress_at_reps"], right["pain_ceiling"], right["pain_alert_above"]) == (
        12,
        4,
        4,
    )
    # Ceiling and alert threshold equal: no "acceptable" band.
    assert [b["band"] for b in right["pain_key"]] == ["none", "safe", "too_much"]
    assert (left["progress_at_reps"], left["pain_ceiling"], left["pain_alert_above"]) == (20, 3, 5)


def test_a_painful_set_takes_readiness_back_until_the_next_qualifying_set(
    patient_client, patient, prescription
):
    def ready():
        return sides(patient_client.get("/api/v1/me/plan/").json())["left"]["ready_to_progress"]

    log(patient_client, prescription, reps=20, pain=1, performed_at=local_moment(patient, 2))
    assert ready() is True
    log(patient_client, prescription, reps=8, pain=6, performed_at=local_moment(patient, 1))
    assert ready() is False  # above the alert threshold, after the ready set
    log(patient_client, prescription, reps=20, pain=3, performed_at=local_moment(patient, 0))
    assert ready() is True


def test_readiness_follows_the_clinics_own_alert_threshold(patient_client, clinic, prescription):
    clinic.pain_alert_above = 4
    clinic.save()
    now = timezone.now()
    log(patient_client, prescription, reps=20, pain=0, performed_at=now - dt.timedelta(hours=2))
    log(patient_client, prescription, reps=10, pain=5, performed_at=now - dt.timedelta(hours=1))

    left = sides(patient_client.get("/api/v1/me/plan/").json())["left"]

    assert left["ready_to_progress"] is False  # 5 is above this clinic's 4


def test_best_reps_count_only_sets_within_the_pain_ceiling(patient_client, prescription):
    log(patient_client, prescription, reps=18, pain=2)
    log(patient_client, prescription, reps=30, pain=4)  # more reps, above the ceiling of 3

    left = sides(patient_client.get("/api/v1/me/progress/").json())["left"]

    assert (left["best_reps_at_stage"], left["ready_to_progress"]) == (18, False)


def test_every_pain_key_covers_each_score_once_in_order():
    """For every pair of thresholds a clinic or prescription may set (ceiling 0-10, alert 0-9, the
    ceiling not above the alert), the key's bands cover 0-10 without a gap or an overlap, and
    each band's numbers are those its words say (`Thresholds.pain_key` and `pain_band` agree)."""
    for ceiling in range(PAIN_MAX + 1):
        for alert in range(ceiling, PAIN_MAX):
            thresholds = Thresholds(pain_ceiling=ceiling, pain_alert_above=alert)
            key = pain_key(thresholds)
            covered = [n for band in key for n in range(band["lowest"], band["highest"] + 1)]
            assert covered == list(range(PAIN_MAX + 1)), (ceiling, alert)
            assert key[-1]["lowest"] == alert + 1
            for band in key:
                assert {thresholds.pain_band(n) for n in (band["lowest"], band["highest"])} == {
                    band["band"]
                }


@pytest.mark.parametrize("who", ["anonymous", "outsider", "staff"])
def test_the_thresholds_and_key_are_for_the_patient_only(request, prescription, who):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    response = client_for(user).get("/api/v1/me/plan/")

    assert_error(response, 401 if who == "anonymous" else 403)
    assert "pain_key" not in response.content.decode()


def test_another_patient_reads_their_own_thresholds_not_the_patients(
    other_patient_client, patient, therapist, other_prescription
):
    prescription_start(
        patient=patient,
        side="right",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - DAY,
        pain_alert_above=7,
    )

    plan = sides(other_patient_client.get("/api/v1/me/plan/").json())

    assert plan["left"]["prescription"]["id"] == other_prescription.pk
    assert plan["left"]["prescription"]["pain_alert_above"] == 5
    assert plan["right"]["prescription"] is None


# -- the current monitoring window (me/progress/) -----------------------------------------------


def window_of(body):
    return body["current_window"]


def test_progress_shows_the_current_monitoring_window(patient_client, patient, therapist):
    first = start(patient, therapist, days_ago=40)
    today = patient.clinic.local_date(timezone.now())
    began = patient.clinic.local_date(first.started_at)
    number = (today - began).days // 30 + 1
    window_start = began + dt.timedelta(days=30 * (number - 1))
    # Done in the first window (stored directly: older than the API's 30 days): not counted now.
    SetLogFactory(
        prescription=first,
        logged_by=patient.user,
        performed_at=dt.datetime.combine(began + DAY, dt.time(12), tzinfo=patient.clinic.tzinfo),
    )
    for days_ago in (1, 0, 0):
        log(patient_client, first, performed_at=local_moment(patient, days_ago))

    body = patient_client.get("/api/v1/me/progress/").json()

    assert number == 2
    assert window_of(body) == {
        "number": 2,
        "first_day": window_start.isoformat(),
        "last_day": (window_start + dt.timedelta(days=29)).isoformat(),
        "counted_until": today.isoformat(),
        "days_counted": (today - window_start).days + 1,
        "data_days": 2,
        "adherence_band": "2_15",
        "status": "in_progress",
    }
    assert body["data_days_last_30"] == 2  # kept, the rolling 30 days


def test_the_window_counts_from_the_first_prescription_even_once_it_ended(
    patient_client, patient, therapist
):
    first = start(patient, therapist, days_ago=5)
    second = prescription_advance(prescription=first, by=therapist, at=timezone.now() - DAY)
    log(patient_client, second, performed_at=local_moment(patient, 0))

    window = window_of(patient_client.get("/api/v1/me/progress/").json())

    began = patient.clinic.local_date(first.started_at)
    assert (window["number"], window["first_day"]) == (1, began.isoformat())
    assert (window["data_days"], window["adherence_band"]) == (1, "under_2")


def test_a_voided_set_is_not_a_data_day_of_the_window(patient_client, therapist, prescription):
    row = log(patient_client, prescription)
    set_void(set_log=SetLog.objects.get(pk=row["id"]), by=therapist, reason="Logged twice")

    assert window_of(patient_client.get("/api/v1/me/progress/").json())["data_days"] == 0


def test_there_is_no_window_before_the_first_exercise(patient_client):
    body = patient_client.get("/api/v1/me/progress/").json()

    assert body["current_window"] is None
    assert (body["data_days_last_30"], body["adherence_band"]) == (0, "under_2")


def test_discharge_ends_monitoring(patient, therapist, prescription):
    now = timezone.now()
    today = patient.clinic.local_date(now)
    # Discharged today: the window ends today, at discharge.
    patient_discharge(patient=patient, by=therapist, at=now)
    patient.refresh_from_db()
    window = monitoring_window_today(patient, now=now)
    assert window is not None
    assert (window.status, window.until) == ("discharged", today)
    # The day after, there is no current window.
    assert monitoring_window_today(patient, now=now + DAY) is None
    # And the API, for which a discharged patient's programme has ended, shows no progress.
    error = assert_error(client_for(patient.user).get("/api/v1/me/progress/"), 403)
    assert "discharged" in error["message"]


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("outsider", 403)])
def test_an_outsider_reads_no_window(request, prescription, who, status):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    response = client_for(user).get("/api/v1/me/progress/")

    assert_error(response, status)
    assert "current_window" not in response.content.decode()


def test_another_patient_sees_their_own_window_only(
    patient_client, other_patient_client, patient, other_patient, prescription, other_prescription
):
    log(patient_client, prescription, performed_at=local_moment(patient, 0))

    window = window_of(other_patient_client.get("/api/v1/me/progress/").json())

    began = other_patient.clinic.local_date(other_prescription.started_at)
    assert (window["first_day"], window["data_days"]) == (began.isoformat(), 0)


def test_the_plan_says_when_the_next_stage_is_not_allowed(
    client, patient_requiring_clearance, therapist
):
    patient = patient_requiring_clearance
    patient.user = UserFactory(username="ines-api")
    patient.save()
    today = timezone.localdate()
    record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=20),
        review_on=today + dt.timedelta(days=60),
        decision="restricted",
        precautions=("no_internal_rotation",),
        operated_side="left",
        today=today - dt.timedelta(days=20),
    )
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=2),
    )
    set_log(
        SetLogRequest(
            patient=patient,
            prescription=rx,
            reps=20,
            pain=0,
            performed_at=timezone.now(),
            client_id=uuid.uuid4(),
            by=patient.user,
            source="app",
        )
    )
    client.force_login(patient.user)
    [left] = [s for s in client.get("/api/v1/me/plan/").json()["sides"] if s["side"] == "left"]
    assert (left["ready_to_progress"], left["next_stage_blocked"]) == (True, True)
