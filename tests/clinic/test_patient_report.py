"""The per-patient progression report (`/reports/patients/<id>/`): who may read it, its figures
checked against hand-computed histories (the clinic's calendar days, two sets on one day, 15 and 16
data days, voided sets), its CSV downloads and their escaping, its period and its cost.

The cast: the patient's therapist, a colleague, staff of the clinic (read-only), an outsider (a
therapist of another clinic), the patient themselves and anonymous users.
"""

import csv
import datetime as dt
import io
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.reports.patient_figures import days_text
from exercises.models import SetLog
from exercises.services import (
    patient_discharge,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_void,
)
from patients.models import Decision, Role
from tests.factories import (
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    SetLogFactory,
    record_clearance,
    stage,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")


def local(day: dt.date, hour: int, minute: int = 0, tz=LONDON) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


def today(tz=LONDON) -> dt.date:
    return timezone.now().astimezone(tz).date()


def start(patient, by, *, on, side="left", number=1, tz=LONDON, **dose):
    return prescription_start(
        patient=patient, side=side, stage=stage(number), by=by, at=local(on, 8, tz=tz), **dose
    )


def log(prescription, at, *, reps=10, pain=1, note="", by=None):
    """A set as stored (the factory, not the service: the service refuses sets over 30 days old)."""
    return SetLogFactory(
        prescription=prescription,
        performed_at=at,
        reps=reps,
        pain=pain,
        note=note,
        # An automatic advance has no prescriber: someone still logged the set.
        logged_by=by or prescription.prescribed_by or prescription.patient.primary_therapist,
    )


def url(patient, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("patient-report", args=[patient.pk]) + (f"?{query}" if query else "")


def page(client, patient, **params):
    response = client.get(url(patient, **params))
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def section(html, anchor, until=None):
    """The HTML of one section: from its id to the next section's (or the end)."""
    rest = html[html.index(f'id="{anchor}"') :]
    return rest[: rest.index(f'id="{until}"')] if until else rest


def download(client, patient, table, **params):
    response = client.get(url(patient, format="csv", table=table, **params))
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# -- who may read it ------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client, patient):
    response = client.get(url(patient))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_patient_gets_403_even_for_their_own_record(client, patient):
    client.force_login(patient.user)
    assert client.get(url(patient)).status_code == 403


def test_a_therapist_of_another_clinic_gets_404(client, outsider, patient):
    client.force_login(outsider)
    assert client.get(url(patient)).status_code == 404
    assert client.get(url(patient, format="csv", table="sets")).status_code == 404


def test_therapists_and_staff_of_the_clinic_read_it(client, therapist, colleague, staff, patient):
    for user in (therapist, colleague, staff):
        client.force_login(user)
        assert "Progression report: Maya Lindqvist" in page(client, patient)


def test_a_patient_that_does_not_exist_is_404(client, therapist):
    client.force_login(therapist)
    assert client.get(reverse("patient-report", args=[999_999])).status_code == 404


def test_it_rejects_post(client, therapist, patient):
    client.force_login(therapist)
    assert client.post(url(patient)).status_code == 405


# -- the header -----------------------------------------------------------------------------------


def test_the_header_names_the_patient_period_and_who_generated_it(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    day = today() - dt.timedelta(days=20)
    record_clearance(
        patient, by=therapist, signed_on=day, review_on=today() + dt.timedelta(days=60)
    )
    start(patient, therapist, on=day)
    client.force_login(therapist)
    html = page(client, patient)
    head = html[: html.index('class="pr-period')]
    assert "Ines Duarte" in head and f"Record {patient.record_number}" in head
    assert "17 May 1970" in head
    assert "Riverside Physio" in head
    assert "Required (pelvic fracture)" in head
    assert "Active" in head
    assert f"{day:%-d %b %Y} to {today():%-d %b %Y}" in head
    assert f"{day:%-d %b %Y} (first prescription)" in head
    assert "by thera." in head
    assert "(Europe/London)" in head


def test_a_patient_never_prescribed_gets_a_report_that_says_so(client, therapist, patient):
    client.force_login(therapist)
    html = page(client, patient)
    assert "not started: no prescription yet" in html
    assert "has never had a prescription, so monitoring has not started" in html
    assert "No sets in this period." in html
    assert "No current stage: never prescribed on this side." in html
    assert "No clearance notes recorded." in html


# -- the figures, hand-computed -------------------------------------------------------------------


@pytest.fixture
def chicago(db):
    """A clinic six hours behind UTC in winter: a set at 23:30 there is the next day in UTC."""
    clinic = ClinicFactory(name="Lakeside PT", slug="lakeside", timezone="America/Chicago")
    therapist = MembershipFactory(clinic=clinic, role=Role.THERAPIST, user__username="lake").user
    patient = PatientFactory(clinic=clinic, primary_therapist=therapist)
    return clinic.tzinfo, therapist, patient


def test_a_set_at_2330_counts_on_that_day_in_the_clinics_zone(client, chicago):
    tz, therapist, patient = chicago
    # Monday three weeks back: sets at 09:00 and 23:30 that Monday, and 23:30 on Sunday.
    monday = today(tz) - dt.timedelta(days=today(tz).weekday() + 21)
    sunday = monday + dt.timedelta(days=6)
    rx = start(patient, therapist, on=monday, tz=tz, sessions_per_week=2)
    log(rx, local(monday, 9, tz=tz))
    late = log(rx, local(monday, 23, 30, tz=tz))
    log(rx, local(sunday, 23, 30, tz=tz))
    assert late.performed_at.astimezone(dt.UTC).date() == monday + dt.timedelta(days=1)

    client.force_login(therapist)
    last = monday + dt.timedelta(days=13)
    # Sessions per Monday–Sunday week: in UTC the Sunday set would fall into the next week.
    weeks = download(client, patient, "weekly-sessions", to=last)
    assert weeks[1:] == [
        ["Left", str(monday), str(sunday), "7", "2", "2", "met"],
        ["Left", str(sunday + dt.timedelta(days=1)), str(last), "7", "0", "2", "not met"],
    ]
    # The window lists the clinic's days: Monday (two sets, counted once) and Sunday.
    [_, window] = download(client, patient, "windows", to=last)
    assert window[:6] == [
        str(monday),
        str(last),
        "14",
        "2",
        "2–15 days",
        "cut at the end of the period",
    ]
    assert window[6] == days_text([monday, sunday])
    # The stage summary: three sets on two days, first and last day in the clinic's calendar.
    [_, summary] = download(client, patient, "stage-summary", to=last)
    assert summary[3:5] == ["3", "2"]
    assert summary[9:11] == [str(monday), str(sunday)]
    # The page shows the local time, not UTC's.
    html = page(client, patient, to=last)
    assert f"{monday:%-d %b %Y} 23:30" in html


def test_two_sets_on_one_day_count_as_one_data_day_and_one_session(client, therapist, patient):
    day = today() - dt.timedelta(days=3)
    rx = start(patient, therapist, on=day)
    log(rx, local(day, 9))
    log(rx, local(day, 18))
    client.force_login(therapist)
    [_, window] = download(client, patient, "windows")
    assert window[3] == "1" and window[4] == "<2 days"
    assert sum(int(row[4]) for row in download(client, patient, "weekly-sessions")[1:]) == 1


def test_windows_with_15_and_16_data_days_fall_in_different_bands(client, therapist, patient):
    first = today() - dt.timedelta(days=65)
    rx = start(patient, therapist, on=first)
    for offset in range(15):  # window 1: days 0-14
        log(rx, local(first + dt.timedelta(days=offset), 10))
    log(rx, local(first, 20))  # a second set on day 0 adds no data day
    for offset in range(30, 46):  # window 2: days 30-45
        log(rx, local(first + dt.timedelta(days=offset), 10))
    log(rx, local(today(), 0, 5))  # window 3, in progress: today, just after midnight
    client.force_login(therapist)
    rows = download(client, patient, "windows")
    assert rows[0] == [
        "First day",
        "Last day",
        "Days",
        "Data days",
        "Band",
        "Status",
        "The data days",
    ]
    day = dt.timedelta(days=1)
    assert [r[:6] for r in rows[1:]] == [
        [str(first), str(first + 29 * day), "30", "15", "2–15 days", "complete"],
        [str(first + 30 * day), str(first + 59 * day), "30", "16", "16–30 days", "complete"],
        [str(first + 60 * day), str(today()), "6", "1", "<2 days", "in progress (so far)"],
    ]
    assert rows[1][6] == days_text([first + i * day for i in range(15)])
    html = section(page(client, patient), "adherence", "clearance")
    assert "2–15 days" in html and "16–30 days" in html


def test_a_discharged_patients_windows_end_at_discharge(client, therapist, patient):
    """Monitoring ends at discharge (docs/reports.md): no "<2 days" windows after it, up to today."""
    first = today() - dt.timedelta(days=100)
    rx = start(patient, therapist, on=first)
    for offset in (1, 2, 31, 40):
        log(rx, local(first + dt.timedelta(days=offset), 10))
    discharge_day = first + dt.timedelta(days=45)
    patient_discharge(patient=patient, by=therapist, at=local(discharge_day, 16))
    client.force_login(therapist)

    rows = download(client, patient, "windows")

    day = dt.timedelta(days=1)
    assert [r[:6] for r in rows[1:]] == [
        [str(first), str(first + 29 * day), "30", "2", "2–15 days", "complete"],
        [str(first + 30 * day), str(discharge_day), "16", "2", "2–15 days", "ended at discharge"],
    ]


def test_the_stage_summary_counts_valid_sets_only_and_lists_voided_ones(
    client, therapist, colleague, patient
):
    day = today() - dt.timedelta(days=10)
    left = start(patient, therapist, on=day)
    right = start(patient, therapist, on=day, side="right", number=2)
    log(left, local(day, 9), reps=8, pain=2)
    log(left, local(day, 19), reps=12, pain=6)
    log(left, local(day + dt.timedelta(days=2), 9), reps=20, pain=1)
    voided = log(left, local(day + dt.timedelta(days=3), 9), reps=30, pain=9, note="counted twice")
    set_void(set_log=voided, by=therapist, reason="Logged twice by mistake")
    left2 = prescription_advance(
        prescription=left, by=None, at=local(day + dt.timedelta(days=4), 7)
    )
    log(left2, local(day + dt.timedelta(days=5), 9), reps=9, pain=3)
    log(right, local(day + dt.timedelta(days=1), 9), reps=15, pain=0)
    client.force_login(therapist)

    rows = download(client, patient, "stage-summary")
    assert rows[0][3:] == [
        "Valid sets",
        "Days with a set",
        "Best reps within the pain ceiling",
        "Mean reps",
        "Highest pain",
        "Sets above the pain alert threshold",
        "First day",
        "Last day",
        "Voided sets (not counted)",
    ]
    d = [str(day + dt.timedelta(days=i)) for i in range(6)]
    assert rows[1:] == [
        # (8 + 12 + 20) / 3 = 13.3; the voided 30 reps at pain 9 count nowhere.
        ["Left", "1", "Clamshell", "3", "2", "20", "13.3", "6", "1", d[0], d[2], "1"],
        ["Left", "2", "Reverse clamshell", "1", "1", "9", "9.0", "3", "0", d[5], d[5], "0"],
        ["Right", "2", "Reverse clamshell", "1", "1", "15", "15.0", "0", "0", d[1], d[1], "0"],
    ]
    html = page(client, patient)
    sets = section(html, "sets", "figures")
    assert sets.count('class="voided"') == 1
    assert "Voided: Logged twice by mistake" in sets
    [csv_voided] = [r for r in download(client, patient, "sets")[1:] if r[9] == "yes"]
    assert csv_voided[3:5] == ["30", "9"] and csv_voided[10] == "Logged twice by mistake"
    # The chart counts no voided set either: 4 valid sets on the left.
    left_side = section(html, "side-left", "side-right")
    assert 'id="chart-left"' in left_side
    assert "Left side: 4 sets, 8 to 20 reps" in left_side


def test_stage_steps_say_who_decided_and_automatic_steps_say_system(
    client, therapist, colleague, patient
):
    day = today() - dt.timedelta(days=12)
    rx = start(patient, therapist, on=day)
    rx = prescription_advance(
        prescription=rx, by=None, at=local(day + dt.timedelta(days=3), 9), note="Ready: 20 reps."
    )
    rx = prescription_regress(
        prescription=rx, by=colleague, at=local(day + dt.timedelta(days=5), 9), note="Pain 7/10."
    )
    prescription_stop(prescription=rx, by=therapist, at=local(day + dt.timedelta(days=8), 9))
    client.force_login(therapist)
    rows = download(client, patient, "steps")
    assert rows[0] == [
        "Date and time",
        "Side",
        "From stage",
        "To stage",
        "Change",
        "Decided by",
        "Note",
    ]
    assert [r[1:] for r in rows[1:]] == [
        ["Left", "", "1", "Started", "thera", ""],
        ["Left", "1", "2", "Progressed", "automatic (system)", "Ready: 20 reps."],
        ["Left", "2", "1", "Regressed", "colleague", "Pain 7/10."],
        ["Left", "1", "", "Stopped", "thera", ""],
    ]
    assert rows[1][0] == local(day, 8).isoformat()
    left = section(page(client, patient), "side-left", "side-right")
    assert "automatic (system)" in left
    assert "stage 2 → stage 1" in left and "stage 1 → stopped" in left
    assert "No current stage: stopped on" in left


def test_a_period_shows_only_its_sets_and_steps_and_the_stage_at_its_start(
    client, therapist, patient
):
    day = today() - dt.timedelta(days=20)
    rx = start(patient, therapist, on=day)
    log(rx, local(day, 9), note="before the period")
    rx = prescription_advance(
        prescription=rx, by=therapist, at=local(day + dt.timedelta(days=2), 9)
    )
    log(rx, local(day + dt.timedelta(days=5), 9), note="inside the period")
    client.force_login(therapist)
    first, last = day + dt.timedelta(days=4), day + dt.timedelta(days=6)
    html = page(client, patient, **{"from": first, "to": last})
    assert "inside the period" in html and "before the period" not in html
    assert "At the start of the period: stage 2." in html
    assert "No stage changes on the left side in this period." in html
    assert len(download(client, patient, "sets", **{"from": first, "to": last})) == 2


def test_the_clearance_notes_are_all_listed_newest_first_with_the_one_in_effect(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    older = record_clearance(
        patient,
        by=therapist,
        signed_on=today() - dt.timedelta(days=60),
        review_on=today() + dt.timedelta(days=30),
        decision=Decision.RESTRICTED,
        max_stage=2,
        restrictions="No stage 3 before the 12-week X-ray.",
    )
    newer = record_clearance(
        patient,
        by=therapist,
        signed_on=today() - dt.timedelta(days=3),
        review_on=today() + dt.timedelta(days=90),
    )
    client.force_login(therapist)
    rows = download(client, patient, "clearance-notes")
    assert [r[0] for r in rows[1:]] == [str(newer.signed_on), str(older.signed_on)]
    column = {name: i for i, name in enumerate(rows[0])}
    assert rows[1][1] == "Cleared" and rows[1][column["Today"]] == "in effect"
    assert [rows[2][column[name]] for name in ("Decision", "Procedure or injury")] == [
        "Cleared with restrictions",
        "Pelvic fracture, conservatively managed",
    ]
    assert rows[2][column["Other restrictions"]] == "No stage 3 before the 12-week X-ray."
    assert rows[2][column["Highest stage allowed"]] == "2"
    assert rows[2][column["Signed by"]] == "Dr. Ada Osei"
    assert rows[2][column["Credentials"]] == "MD, orthopaedics"
    assert rows[2][column["Recorded by"]] == "thera"
    assert rows[2][column["Today"]] == "superseded"
    html = section(page(client, patient), "clearance", "sets")
    assert html.index("in effect") < html.index("superseded")
    assert "No stage 3 before the 12-week X-ray." in html


def test_a_note_with_precautions_and_one_that_ends_the_requirement_read_as_written(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    record_clearance(
        patient,
        by=therapist,
        signed_on=today() - dt.timedelta(days=30),
        review_on=today() + dt.timedelta(days=60),
        decision=Decision.RESTRICTED,
        precautions=("no_internal_rotation",),
        operated_side="left",
        procedure_on=today() - dt.timedelta(days=40),
    )
    record_clearance(
        patient,
        by=therapist,
        signed_on=today() - dt.timedelta(days=1),
        review_on=None,
        decision=Decision.NOT_REQUIRED,
    )
    client.force_login(therapist)
    rows = download(client, patient, "clearance-notes")
    column = {name: i for i, name in enumerate(rows[0])}
    ended, restricted = rows[1], rows[2]
    assert ended[column["Decision"]] == "No further clearance needed"
    assert ended[column["Review on"]] == ""
    assert ended[column["Highest stage allowed"]] == "no limit (clearance no longer needed)"
    assert restricted[column["Movement precautions"]] == (
        "No hip internal rotation past neutral (left hip)"
    )
    assert restricted[column["Procedure or injury on"]] == str(today() - dt.timedelta(days=40))
    html = section(page(client, patient), "clearance", "sets")
    assert "No hip internal rotation past neutral (left hip)" in html
    assert "review \n" not in html and "· review  ·" not in html


def test_the_page_marks_painful_sets_by_their_own_threshold(client, therapist, patient):
    first = today() - dt.timedelta(days=5)
    rx = start(patient, therapist, on=first, pain_alert_above=6, pain_ceiling=2)
    log(rx, local(first + dt.timedelta(days=1), 10), pain=6)  # not above this side's 6
    log(rx, local(first + dt.timedelta(days=2), 10), pain=7)
    client.force_login(therapist)
    html = page(client, patient)
    assert html.count("(above the alert threshold)") == 1
    assert "Above the alert threshold" in html


# -- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "note", ['=HYPERLINK("http://evil")', "+1", "-1", "@SUM(A1)", "\tTAB", "\rCR"]
)
def test_a_patients_note_cannot_become_a_formula_in_the_csv(client, therapist, patient, note):
    day = today() - dt.timedelta(days=2)
    rx = start(patient, therapist, on=day)
    log(rx, local(day, 9), note=note, by=patient.user)
    client.force_login(therapist)
    [header, row] = download(client, patient, "sets")
    assert header[8] == "Note"
    assert row[8] == "'" + note
    assert row[7] == "maya"


def test_each_table_downloads_and_the_links_keep_the_period(client, therapist, patient):
    day = today() - dt.timedelta(days=5)
    rx = start(patient, therapist, on=day)
    log(rx, local(day, 9))
    client.force_login(therapist)
    html = page(client, patient, **{"from": day, "to": today()})
    for table in (
        "steps",
        "stage-summary",
        "windows",
        "weekly-sessions",
        "sets",
    ):
        assert f"?from={day}&amp;to={today()}&amp;format=csv&amp;table={table}" in html
        response = client.get(url(patient, **{"from": day, "format": "csv", "table": table}))
        assert response.status_code == 200
        name = f"{patient.record_number.lower()}-progression-{table}.csv"
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'


def test_csv_without_a_known_table_is_400_naming_the_tables(client, therapist, patient):
    client.force_login(therapist)
    for params in ({"format": "csv"}, {"format": "csv", "table": "everything"}):
        response = client.get(url(patient, **params))
        assert response.status_code == 400
        assert response.content.decode() == (
            "table: choose which table to download (steps, stage-summary, windows, "
            "weekly-sessions, clearance-notes, sets)."
        )


# -- the period -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, "from: enter a real date as YYYY-MM-DD"),
        ({"to": "yesterday"}, "to: enter a real date as YYYY-MM-DD"),
        ({"from": "03/11/2026"}, "from: enter a real date as YYYY-MM-DD"),
        ({"from": "1850-01-01"}, "from: 1850-01-01 is before 1900-01-01."),
    ],
)
def test_a_bad_date_is_400_naming_the_field_and_no_report(
    client, therapist, patient, params, message
):
    client.force_login(therapist)
    response = client.get(url(patient, **params))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "No report: the period is not valid." in html
    assert 'id="sets"' not in html and "Per-stage summary" not in html
    csv_response = client.get(url(patient, format="csv", table="sets", **params))
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_from_after_to_is_400(client, therapist, patient):
    client.force_login(therapist)
    response = client.get(url(patient, **{"from": "2026-11-10", "to": "2026-11-03"}))
    assert response.status_code == 400
    assert "from: 2026-11-10 is after to (2026-11-03)" in response.content.decode()


def test_a_period_ending_after_today_is_400(client, therapist, patient):
    client.force_login(therapist)
    tomorrow = today() + dt.timedelta(days=1)
    response = client.get(url(patient, to=tomorrow))
    assert response.status_code == 400
    assert f"to: {tomorrow} is after today" in response.content.decode()


# -- cost -----------------------------------------------------------------------------------------


def count_queries(client, address):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(address).status_code == 200
    return len(queries)


def test_the_report_runs_the_same_number_of_queries_for_2_or_60_sets(client, therapist, colleague):
    client.force_login(therapist)
    few, many = (
        PatientFactory(clinic=therapist.memberships.get().clinic, primary_therapist=therapist)
        for _ in range(2)
    )
    day = today() - dt.timedelta(days=40)
    for patient, n in ((few, 2), (many, 60)):
        record_clearance(patient, by=therapist, signed_on=day, review_on=today())
        left = start(patient, therapist, on=day)
        right = start(patient, colleague, on=day, side="right")
        for i in range(n):
            at = local(day + dt.timedelta(days=i % 35), 9 + i % 10)
            log(left if i % 2 else right, at, reps=5 + i % 20, pain=i % 8, note=f"set {i}")
        prescription_advance(prescription=left, by=None, at=local(day + dt.timedelta(days=36), 8))
        set_void(set_log=SetLog.objects.filter(patient=patient).first(), by=therapist, reason="x")
    assert SetLog.objects.filter(patient=many).count() == 60
    for table in ("", "sets"):
        params = {"format": "csv", "table": table} if table else {}
        assert count_queries(client, url(few, **params)) == count_queries(
            client, url(many, **params)
        )


def test_days_text_groups_days_by_month():
    days = [dt.date(2026, 11, 3), dt.date(2026, 11, 4), dt.date(2026, 11, 7), dt.date(2026, 12, 2)]
    assert days_text(days) == "3, 4, 7 Nov 2026; 2 Dec 2026"
    assert days_text([]) == ""


def test_a_discharged_patient_is_marked_so(client, therapist, patient):
    patient.discharged_at = timezone.now() - dt.timedelta(days=1)
    patient.save()
    client.force_login(therapist)
    assert "Discharged on" in page(client, patient)


def test_staff_see_the_same_report_as_the_therapist(client, therapist, staff, patient):
    day = today() - dt.timedelta(days=4)
    rx = start(patient, therapist, on=day)
    log(rx, local(day, 9))
    client.force_login(therapist)
    as_therapist = download(client, patient, "sets")
    client.force_login(staff)
    assert download(client, patient, "sets") == as_therapist
