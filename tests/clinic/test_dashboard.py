"""The therapist dashboard (issue 4, item 1): the caseload with each side's stage, best reps against
the readiness target, last log, sessions this week, data days and alerts; filtered, searched, sorted
and paginated with or without htmx; for therapists only, in a fixed number of queries.

The dashboard reads the real clock, so the state here is built relative to `timezone.now()` in the
clinic's own calendar, through the services (sets are logged with `now=` just after they were done).
"""

import datetime as dt
import html
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.caseload.views import PAGE_SIZE
from exercises.models import Source
from exercises.services import (
    SetLogRequest,
    patient_discharge,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.models import Decision, Role
from tests.factories import MembershipFactory, PatientFactory, record_clearance, stage

URL = "/dashboard/"
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


# -- building state --------------------------------------------------------------------------


def today_in(clinic) -> dt.date:
    return clinic.local_date(timezone.now())


def local(clinic, day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A moment on a calendar day of the clinic's zone."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clinic.tzinfo)


def person(clinic, therapist, first, last, **kwargs):
    return PatientFactory(
        clinic=clinic, primary_therapist=therapist, first_name=first, last_name=last, **kwargs
    )


def needing_clearance(clinic, therapist, first, last):
    return person(
        clinic, therapist, first, last, requires_clearance=True, clearance_reason="pelvic fracture"
    )


def start(patient, by, *, side="left", number=1, days_ago=20, **dose):
    return prescription_start(
        patient=patient,
        side=side,
        stage=stage(number),
        by=by,
        at=timezone.now() - days_ago * DAY,
        **dose,
    )


def log(prescription, performed_at, *, reps=10, pain=1):
    # `now` just after the set: as if the phone synced it when it was done.
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


# -- reading the page ------------------------------------------------------------------------


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def rows(response) -> list[str]:
    """The text of each row of the caseload table, in order."""
    content = response.content.decode()
    if "<tbody>" not in content:
        return []
    body = content.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [_text(tr) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def row_of(response, patient) -> str:
    [row] = [r for r in rows(response) if patient.record_number in r]
    return row


def names(response) -> list[str]:
    return re.findall(r'<a href="/patients/\d+/">([^<]+)</a>', response.content.decode())


def shown(response, patient) -> bool:
    return patient.record_number in response.content.decode()


@pytest.fixture
def as_therapist(client, therapist):
    client.force_login(therapist)
    return client


# -- the columns -----------------------------------------------------------------------------


def test_it_shows_each_sides_stage_and_best_reps_at_that_stage_against_the_target(
    as_therapist, patient, therapist
):
    left = start(patient, therapist, days_ago=20)
    log(left, timezone.now() - 15 * DAY, reps=22, pain=1)  # at stage 1: not counted at stage 2
    left = prescription_advance(prescription=left, by=therapist, at=timezone.now() - 14 * DAY)
    log(left, timezone.now() - 10 * DAY, reps=12)
    log(left, timezone.now() - 9 * DAY, reps=17, pain=4)  # above the pain ceiling: not counted
    voided = log(left, timezone.now() - 8 * DAY, reps=19)
    set_void(set_log=voided, by=therapist, reason="Entered for the wrong patient.")

    row = row_of(as_therapist.get(URL), patient)

    assert row.startswith(f"Maya Lindqvist {patient.record_number} 2 12 / 20 ")
    # The right side has no prescription: a dash for its stage, reps and week.
    assert " 12 / 20 0 / 5 — no stage — — " in row


def test_best_reps_use_the_prescriptions_own_readiness_target(as_therapist, patient, therapist):
    left = start(patient, therapist, progress_at_reps=15)
    log(left, timezone.now() - DAY, reps=12)

    assert " 12 / 15 " in row_of(as_therapist.get(URL), patient)


def test_a_side_without_sets_shows_a_dash_against_the_target(as_therapist, patient, therapist):
    start(patient, therapist, side="right", number=3, days_ago=2)

    assert f"{patient.record_number} — no stage — — 3 — / 20 0 / 5 " in row_of(
        as_therapist.get(URL), patient
    )


def test_a_side_paused_by_a_lapsed_clearance_says_paused_and_why(as_therapist, clinic, therapist):
    ines = needing_clearance(clinic, therapist, "Ines", "Duarte")
    today = today_in(clinic)
    record_clearance(ines, by=therapist, signed_on=today - 40 * DAY, review_on=today - 5 * DAY)
    start(ines, therapist, days_ago=30)

    row = row_of(as_therapist.get(URL), ines)

    assert f"{ines.record_number} 1 paused : Ines Duarte needs medical clearance" in row
    assert "lapsed after its review date" in row
    assert "Clearance lapsed" in row


def test_last_log_is_the_date_in_the_clinics_time_zone(client, other_clinic, outsider):
    client.force_login(outsider)
    jo = person(other_clinic, outsider, "Jo", "Reyes")
    left = start(jo, outsider)
    day = today_in(other_clinic) - 2 * DAY
    # 20:30 in Chicago is already the next day in UTC.
    log(left, local(other_clinic, day, 20, 30))

    row = row_of(client.get(URL), jo)

    assert f"{day:%d %b %Y}".lstrip("0") in row
    assert f"{day + DAY:%d %b %Y}".lstrip("0") not in row
    assert "2 days ago" in row


def test_a_patient_who_never_logged_shows_never(as_therapist, patient, therapist):
    start(patient, therapist, days_ago=2)

    assert " never " in row_of(as_therapist.get(URL), patient)


def test_sessions_this_week_count_clinic_days_per_side_against_the_target(
    client, other_clinic, outsider
):
    client.force_login(outsider)
    jo = person(other_clinic, outsider, "Jo", "Reyes")
    left = start(jo, outsider, sessions_per_week=3)
    right = start(jo, outsider, side="right", sessions_per_week=4)
    today = today_in(other_clinic)
    monday = today - today.weekday() * DAY
    log(left, local(other_clinic, monday, 9))
    log(left, local(other_clinic, today, 9))
    log(left, local(other_clinic, today, 10))  # the same day again: still one session
    # Sunday 23:30 in Chicago is Monday in UTC, but last week in the clinic.
    log(left, local(other_clinic, monday - DAY, 23, 30))
    log(right, local(other_clinic, today, 11))

    row = row_of(client.get(URL), jo)

    left_sessions = len({monday, today})  # one session on a Monday, two later in the week
    assert f" 1 10 / 20 {left_sessions} / 3 1 10 / 20 1 / 4 " in row


def test_data_days_count_distinct_clinic_days_in_todays_monitoring_window_with_their_band(
    as_therapist, clinic, patient, therapist
):
    # Monitoring started 40 days ago: the second window started 10 days ago.
    left = start(patient, therapist, days_ago=40)
    right = start(patient, therapist, side="right", days_ago=40)
    today = today_in(clinic)
    log(left, local(clinic, today, 9))
    log(left, local(clinic, today - DAY, 9))
    log(right, local(clinic, today - DAY, 18))  # same day, other side: one data day
    log(left, local(clinic, today - 10 * DAY, 12))  # the first day of the window
    log(left, local(clinic, today - 11 * DAY, 12))  # the previous window's last day
    voided = log(left, local(clinic, today - 3 * DAY))
    set_void(set_log=voided, by=therapist, reason="Duplicate entry.")

    row = row_of(as_therapist.get(URL), patient)

    assert " 3 day 11 of 30 band 2–15 days " in row


@pytest.mark.parametrize(
    ("days", "band"), [(0, "<2 days"), (1, "<2 days"), (2, "2–15 days"), (16, "16–30 days")]
)
def test_data_days_are_banded_as_remote_monitoring_bands_them(
    as_therapist, clinic, patient, therapist, days, band
):
    left = start(patient, therapist, days_ago=29)  # today is the window's 30th day
    today = today_in(clinic)
    for n in range(days):
        log(left, local(clinic, today - n * DAY))

    assert f" {days} day 30 of 30 band {band} " in row_of(as_therapist.get(URL), patient)


def test_alerts_show_as_badges_with_their_message(as_therapist, clinic, therapist):
    today = today_in(clinic)
    ready = person(clinic, therapist, "Rea", "Dee")
    log(start(ready, therapist), timezone.now() - HOUR, reps=21, pain=2)
    sore = person(clinic, therapist, "Sor", "Ee")
    log(start(sore, therapist, number=2), timezone.now() - HOUR, pain=7)
    silent = person(clinic, therapist, "Sil", "Ent")
    start(silent, therapist, days_ago=10)
    missing = needing_clearance(clinic, therapist, "Mis", "Sing")
    review = needing_clearance(clinic, therapist, "Rev", "Iew")
    record_clearance(review, by=therapist, signed_on=today - 30 * DAY, review_on=today + 3 * DAY)

    response = as_therapist.get(URL)
    content = response.content.decode()

    assert "Ready to progress · left" in row_of(response, ready)
    assert "ready for stage 2" in row_of(response, ready)
    assert "Pain above 5 · left" in row_of(response, sore)
    assert "Pain 7/10 on the left side at stage 2" in row_of(response, sore)
    assert "No logs for 7 days" in row_of(response, silent)
    assert "Clearance missing" in row_of(response, missing)
    assert "Clearance due for review" in row_of(response, review)
    # The message is there twice: on hover (title) and for screen readers (visually hidden).
    assert 'title="Medical clearance required; none is recorded."' in content
    assert (
        '<span class="visually-hidden">: Medical clearance required; none is recorded.</span>'
        in content
    )


def test_a_patient_without_alerts_says_none(as_therapist, patient, therapist):
    log(start(patient, therapist), timezone.now() - HOUR)

    assert row_of(as_therapist.get(URL), patient).endswith(" None")


# -- whose patients --------------------------------------------------------------------------


def test_it_lists_the_therapists_own_patients_by_default(as_therapist, clinic, patient, colleague):
    theirs = person(clinic, colleague, "Col", "League")

    response = as_therapist.get(URL)

    assert shown(response, patient)
    assert not shown(response, theirs)
    assert "on your caseload." in _text(response.content.decode())


def test_the_clinic_filter_adds_the_rest_of_the_clinic_after_the_own_patients(
    as_therapist, clinic, patient, other_patient, colleague
):
    # "Aaron Abbott" sorts first by name, but is a colleague's patient.
    theirs = person(clinic, colleague, "Aaron", "Abbott")
    nobodys = PatientFactory(clinic=clinic, first_name="Bea", last_name="Adams")

    response = as_therapist.get(URL, {"who": "clinic", "sort": "name"})

    assert names(response) == ["Omar Haddad", "Maya Lindqvist", "Aaron Abbott", "Bea Adams"]
    assert "Your patient" in row_of(response, patient)
    assert "colleague" in row_of(response, theirs)
    assert "No primary therapist" in row_of(response, nobodys)
    assert "4 patients in your clinic." in _text(response.content.decode())


def test_discharged_patients_are_not_on_the_caseload(as_therapist, patient, therapist):
    start(patient, therapist)
    patient_discharge(patient=patient, by=therapist)

    assert not shown(as_therapist.get(URL, {"who": "clinic"}), patient)


def test_an_empty_caseload_says_what_to_do_next(as_therapist):
    content = as_therapist.get(URL).content.decode()

    assert "No active patients list you as their primary therapist" in content
    assert 'href="/dashboard/?who=clinic"' in content


# -- filters, search, sort, pages ------------------------------------------------------------


@pytest.fixture
def mixed(clinic, therapist):
    """Three patients: one ready to progress at stage 1, one with pain at stage 2, one not started."""
    ready = person(clinic, therapist, "Rea", "Dee")
    log(start(ready, therapist), timezone.now() - HOUR, reps=20, pain=1)
    sore = person(clinic, therapist, "Sor", "Ee")
    log(start(sore, therapist, side="right", number=2), timezone.now() - HOUR, pain=8)
    waiting = person(clinic, therapist, "Wai", "Ting")
    return ready, sore, waiting


@pytest.mark.parametrize(
    ("alert", "expected"),
    [("ready", ["Rea Dee"]), ("pain", ["Sor Ee"]), ("any", ["Sor Ee", "Rea Dee"]), ("", None)],
)
def test_it_filters_by_alert(as_therapist, mixed, alert, expected):
    response = as_therapist.get(URL, {"alert": alert})

    assert names(response) == (expected or ["Sor Ee", "Rea Dee", "Wai Ting"])


def test_the_alert_filter_searches_the_whole_caseload_not_one_page(as_therapist, clinic, therapist):
    for n in range(PAGE_SIZE + 5):
        person(clinic, therapist, f"Steady{n:02}", "Able")
    last = person(clinic, therapist, "Zed", "Zulu")
    log(start(last, therapist), timezone.now() - HOUR, reps=20, pain=0)

    assert "Zed Zulu" not in names(as_therapist.get(URL, {"sort": "name"}))
    response = as_therapist.get(URL, {"sort": "name", "alert": "ready"})

    assert names(response) == ["Zed Zulu"]
    assert "1 patient on your caseload matches the filters." in _text(response.content.decode())


@pytest.mark.parametrize(
    ("stage_filter", "expected"),
    [("1", ["Rea Dee"]), ("2", ["Sor Ee"]), ("none", ["Wai Ting"]), ("3", [])],
)
def test_it_filters_by_stage_on_either_side(as_therapist, mixed, stage_filter, expected):
    response = as_therapist.get(URL, {"stage": stage_filter, "sort": "name"})

    assert names(response) == expected


@pytest.mark.parametrize("query", ["lindq", "LINDQVIST", "maya lind", "Maya"])
def test_it_searches_by_name(as_therapist, patient, other_patient, query):
    assert names(as_therapist.get(URL, {"q": query})) == ["Maya Lindqvist"]


def test_it_searches_by_record_number(as_therapist, patient, other_patient):
    response = as_therapist.get(URL, {"q": other_patient.record_number.lower()})

    assert names(response) == ["Omar Haddad"]


def test_a_search_that_matches_nobody_says_how_to_clear_the_filters(as_therapist, patient):
    content = as_therapist.get(URL, {"q": "nobody-by-this-name"}).content.decode()

    assert "No patients match — " in content
    assert '<a href="/dashboard/?who=mine">clear the filters</a>' in content
    assert "<tbody>" not in content


def test_a_search_never_reaches_another_clinics_patients(client, outsider, patient):
    client.force_login(outsider)

    response = client.get(URL, {"who": "clinic", "q": patient.record_number})

    assert names(response) == []


@pytest.fixture
def sortable(clinic, therapist):
    """Ana Adler: logged on the last 3 days, no alert. Ben Bell: one set 3 days ago, ready.
    Cy Cole: never logged, started 10 days ago (no logs for 7 days)."""
    today = today_in(clinic)
    ana = person(clinic, therapist, "Ana", "Adler")
    left = start(ana, therapist)
    for n in range(3):
        log(left, local(clinic, today - n * DAY, 0, 0))
    ben = person(clinic, therapist, "Ben", "Bell")
    log(start(ben, therapist), local(clinic, today - 3 * DAY), reps=20)
    cy = person(clinic, therapist, "Cy", "Cole")
    start(cy, therapist, days_ago=10)
    return ana, ben, cy


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Ana Adler", "Ben Bell", "Cy Cole"]),
        ("last_log", ["Cy Cole", "Ben Bell", "Ana Adler"]),  # never, then the longest ago
        ("data_days", ["Cy Cole", "Ben Bell", "Ana Adler"]),  # 0, 1, 3
        ("alerts", ["Cy Cole", "Ben Bell", "Ana Adler"]),  # no logs before ready; none last
        ("", ["Cy Cole", "Ben Bell", "Ana Adler"]),  # the default: alerts first
    ],
)
def test_it_sorts(as_therapist, sortable, sort, expected):
    assert names(as_therapist.get(URL, {"sort": sort})) == expected


def test_sorting_by_alerts_puts_the_most_urgent_kind_first(as_therapist, mixed, sortable):
    # Pain, then no logs, then ready (two: by name), then none (by name).
    assert names(as_therapist.get(URL, {"sort": "alerts"})) == [
        "Sor Ee",
        "Cy Cole",
        "Ben Bell",
        "Rea Dee",
        "Ana Adler",
        "Wai Ting",
    ]


def test_last_log_and_data_days_sorts_differ_where_the_figures_do(
    as_therapist, clinic, therapist, sortable
):
    # Dee logged on many days, but not lately: early in last-log order, last in data days.
    dee = person(clinic, therapist, "Dee", "Dunn")
    left = start(dee, therapist, days_ago=29)
    today = today_in(clinic)
    for n in range(5, 25):
        log(left, local(clinic, today - n * DAY))

    assert names(as_therapist.get(URL, {"sort": "last_log"})) == [
        "Cy Cole",
        "Dee Dunn",
        "Ben Bell",
        "Ana Adler",
    ]
    assert names(as_therapist.get(URL, {"sort": "data_days"})) == [
        "Cy Cole",
        "Ben Bell",
        "Ana Adler",
        "Dee Dunn",
    ]


def test_unknown_filter_values_fall_back_to_the_defaults(as_therapist, mixed):
    response = as_therapist.get(
        URL, {"who": "everyone", "alert": "bogus", "stage": "x", "sort": "?", "page": "z"}
    )

    assert response.status_code == 200
    assert names(response) == ["Sor Ee", "Rea Dee", "Wai Ting"]


def test_it_paginates_and_the_page_links_keep_the_filters(as_therapist, clinic, therapist):
    for n in range(PAGE_SIZE + 3):
        person(clinic, therapist, f"Pat{n:02}", "Able", record_number=f"R{n:03}")

    first = as_therapist.get(URL, {"sort": "name", "q": "able"})
    second = as_therapist.get(URL, {"sort": "name", "q": "able", "page": 2})

    assert len(rows(first)) == PAGE_SIZE
    assert "28 patients on your caseload match the filters — showing 1–25." in _text(
        first.content.decode()
    )
    content = first.content.decode()
    assert 'href="?sort=name&amp;q=able&amp;page=2"' in content
    assert 'hx-get="?sort=name&amp;q=able&amp;page=2"' in content
    assert 'hx-push-url="true"' in content
    assert names(second) == [f"Pat{n:02} Able" for n in range(PAGE_SIZE, PAGE_SIZE + 3)]
    assert 'href="?sort=name&amp;q=able&amp;page=1"' in second.content.decode()


def test_a_page_past_the_end_shows_the_last_page(as_therapist, clinic, therapist):
    for n in range(PAGE_SIZE + 1):
        person(clinic, therapist, f"Pat{n:02}", "Able")

    assert names(as_therapist.get(URL, {"sort": "name", "page": 99})) == ["Pat25 Able"]


# -- htmx and plain HTML ---------------------------------------------------------------------


def test_an_htmx_request_gets_only_the_table_partial(as_therapist, mixed):
    response = as_therapist.get(URL, {"alert": "ready"}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert "<html" not in content
    assert 'id="dash-filters"' not in content
    assert "<table" in content
    assert names(response) == ["Rea Dee"]
    assert "HX-Request" in response["Vary"]


def test_a_plain_request_gets_the_whole_page_with_a_working_get_form(as_therapist, mixed):
    response = as_therapist.get(URL, {"alert": "ready"})

    content = response.content.decode()
    assert content.lstrip().startswith("<!doctype html>")
    assert (
        '<form id="dash-filters" class="dash-filters" method="get" action="/dashboard/"' in content
    )
    assert 'hx-get="/dashboard/"' in content
    assert '<option value="ready" selected>Ready to progress</option>' in content
    for field in ("dash-q", "dash-alert", "dash-stage", "dash-sort"):
        assert f'<label for="{field}">' in content
    assert "<legend>Show</legend>" in content
    assert '<button type="submit"' in content
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    "header", ["HX-History-Restore-Request", "HX-Boosted"], ids=["history", "boosted"]
)
def test_an_htmx_history_restore_or_boosted_request_gets_the_whole_page(
    as_therapist, patient, header
):
    response = as_therapist.get(URL, headers={"HX-Request": "true", header: "true"})

    assert "<html" in response.content.decode()


# -- who may see it --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("therapist", 200), ("colleague", 200), ("staff", 403), ("patient", 403), ("outsider", 200)],
)
def test_only_therapists_reach_the_dashboard(client, request, who, status):
    user = request.getfixturevalue(who)
    client.force_login(user.user if who == "patient" else user)

    assert client.get(URL).status_code == status


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={URL}"


def test_an_outsider_never_sees_this_clinics_patients(client, outsider, patient, other_patient):
    client.force_login(outsider)

    for who in ("mine", "clinic"):
        response = client.get(URL, {"who": who, "alert": "", "sort": "name"})
        assert names(response) == []
        assert not shown(response, patient)


def test_a_therapist_who_is_staff_elsewhere_sees_only_their_therapist_clinics(
    client, therapist, patient, other_clinic
):
    MembershipFactory(user=therapist, clinic=other_clinic, role=Role.STAFF)
    elsewhere = PatientFactory(clinic=other_clinic, first_name="Else", last_name="Where")
    client.force_login(therapist)

    response = client.get(URL, {"who": "clinic"})

    assert names(response) == ["Maya Lindqvist"]
    assert not shown(response, elsewhere)


def test_post_is_not_allowed(as_therapist):
    assert as_therapist.post(URL).status_code == 405


# -- two clinics, two time zones -------------------------------------------------------------


def test_a_therapist_in_two_clinics_sees_each_patients_days_in_their_own_clinics_zone(
    client, therapist, clinic, other_clinic
):
    MembershipFactory(user=therapist, clinic=other_clinic, role=Role.THERAPIST)
    client.force_login(therapist)
    london = person(clinic, therapist, "Lon", "Don")
    chicago = person(other_clinic, therapist, "Chi", "Cago")
    london_day = today_in(clinic) - 5 * DAY
    chicago_day = today_in(other_clinic) - 5 * DAY
    left = start(london, therapist)
    # 23:30 and 00:30 in London: two days there, one evening in Chicago.
    log(left, local(clinic, london_day, 23, 30))
    log(left, local(clinic, london_day + DAY, 0, 30))
    right = start(chicago, therapist, side="right")
    # 23:00 and 01:00 in Chicago: two days there, one morning in London and in UTC.
    log(right, local(other_clinic, chicago_day, 23, 0))
    log(right, local(other_clinic, chicago_day + DAY, 1, 0))

    response = client.get(URL, {"sort": "name"})

    assert names(response) == ["Chi Cago", "Lon Don"]
    london_row, chicago_row = row_of(response, london), row_of(response, chicago)
    assert f"{london_day + DAY:%d %b %Y}".lstrip("0") in london_row
    assert f"{chicago_day + DAY:%d %b %Y}".lstrip("0") in chicago_row
    assert " 2 day 21 of 30 band 2–15 days " in london_row
    assert " 2 day 21 of 30 band 2–15 days " in chicago_row
    # Each row names its clinic when the therapist works in more than one.
    assert "Riverside Physio" in london_row
    assert "Hillcrest Rehab" in chicago_row


# -- cost ------------------------------------------------------------------------------------


def busy_patient(clinic, therapist, n):
    """A patient with both sides running, sets, an alert or two, and for half a clearance note."""
    today = today_in(clinic)
    needs = n % 2 == 0
    patient = person(
        clinic,
        therapist,
        f"Busy{n:02}",
        "Patient",
        requires_clearance=needs,
        clearance_reason="pelvic fracture" if needs else "",
    )
    if needs:
        record_clearance(
            patient, by=therapist, signed_on=today - 30 * DAY, review_on=today + (n % 9) * DAY
        )
    left = start(patient, therapist)
    right = start(patient, therapist, side="right", number=2)
    log(left, timezone.now() - 2 * DAY, reps=20, pain=2)
    log(left, timezone.now() - DAY, reps=15)
    log(right, timezone.now() - HOUR, reps=12, pain=n % 8)
    return patient


@pytest.mark.parametrize(
    "params",
    [{}, {"who": "clinic", "sort": "data_days"}, {"alert": "any", "sort": "last_log", "q": "busy"}],
    ids=["default", "clinic-by-data-days", "alerts-by-last-log"],
)
def test_the_query_count_does_not_grow_with_the_caseload(
    client, clinic, therapist, colleague, django_assert_num_queries, params
):
    client.force_login(therapist)
    for n in range(2):
        busy_patient(clinic, therapist, n)
    busy_patient(clinic, colleague, 99)
    with CaptureQueriesContext(connection) as small:
        assert len(rows(client.get(URL, params))) >= 2

    for n in range(2, 20):
        busy_patient(clinic, therapist, n)
    for n in range(100, 110):
        busy_patient(clinic, colleague, n)

    with django_assert_num_queries(len(small)):
        assert len(rows(client.get(URL, params))) >= 20


def test_the_dashboard_links_to_a_new_patient(client, therapist):
    client.force_login(therapist)
    response = client.get(reverse("dashboard"))
    assert reverse("patient-create").encode() in response.content


# -- the thresholds in force and the clearance's precautions ------------------------------------


def test_a_clinic_with_other_thresholds_shows_them(as_therapist, clinic, therapist):
    clinic.progress_at_reps, clinic.pain_ceiling, clinic.pain_alert_above = 15, 2, 4
    clinic.save()
    sore = person(clinic, therapist, "Sor", "Ee")
    log(start(sore, therapist), timezone.now() - HOUR, reps=9, pain=5)

    row = row_of(as_therapist.get(URL), sore)

    assert " — / 15 " in row  # 9 reps at pain 5 is above the ceiling of 2: no best set yet
    assert "Pain above 4 · left" in row
    assert "Pain 5/10 on the left side at stage 1" in row


def test_ready_with_the_next_stage_ruled_out_says_why_on_the_dashboard(
    as_therapist, clinic, therapist
):
    hip = needing_clearance(clinic, therapist, "Pos", "Terior")
    today = today_in(clinic)
    record_clearance(
        hip,
        by=therapist,
        signed_on=today - 30 * DAY,
        review_on=today + 60 * DAY,
        decision=Decision.RESTRICTED,
        precautions=("no_internal_rotation",),
        operated_side="left",
    )
    log(start(hip, therapist), timezone.now() - HOUR, reps=21, pain=0)

    response = as_therapist.get(URL, {"alert": "ready"})

    row = row_of(response, hip)
    assert "Ready, next stage not allowed · left" in row
    assert "Stage 2 turns the left hip inwards" in row


def test_a_side_a_new_precaution_rules_out_is_flagged_and_filterable(
    as_therapist, clinic, therapist
):
    hip = needing_clearance(clinic, therapist, "Pos", "Terior")
    today = today_in(clinic)
    record_clearance(hip, by=therapist, signed_on=today - 30 * DAY, review_on=today + 60 * DAY)
    start(hip, therapist, number=2, days_ago=5)
    record_clearance(
        hip,
        by=therapist,
        signed_on=today,
        review_on=today + 60 * DAY,
        decision=Decision.RESTRICTED,
        precautions=("no_internal_rotation",),
        operated_side="left",
    )

    response = as_therapist.get(URL, {"alert": "stage_not_allowed"})

    assert names(response) == ["Pos Terior"]
    row = row_of(response, hip)
    assert "Stage not allowed by clearance · left" in row
    assert "paused" in row
