"""The clinic report page: who may open it, its filters, its CSV downloads and its cost."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.reports import tables as reports
from clinic.reports.csv_export import safe_cell
from exercises.services import prescription_advance, prescription_start
from patients.models import Role
from tests.factories import (
    MembershipFactory,
    PatientFactory,
    PrescriptionFactory,
    SetLogFactory,
    record_clearance,
    stage,
)

URL = reverse("reports")


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content])
    return list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))


# -- who may open it ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_patient_is_refused(client, patient):
    client.force_login(patient.user)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("who", ["staff", "therapist"])
def test_staff_and_therapists_see_their_clinics_report(client, request, who, clinic):
    client.force_login(request.getfixturevalue(who))
    response = client.get(URL)
    assert response.status_code == 200
    assert f"Clinic report: {clinic.name}" in response.text


def test_another_clinics_report_is_not_found(client, outsider, clinic):
    client.force_login(outsider)
    assert client.get(URL, {"clinic": clinic.pk}).status_code == 404
    assert client.get(URL, {"clinic": clinic.pk, "format": "csv", "table": "pain"}).status_code == (
        404
    )


def test_an_outsiders_own_report_never_shows_our_patients(client, outsider, patient):
    rx = PrescriptionFactory(patient=patient, started_at=timezone.now() - dt.timedelta(days=3))
    SetLogFactory(prescription=rx, pain=8)
    client.force_login(outsider)

    response = client.get(URL, {"format": "csv", "table": "pain_alerts"})

    assert response.status_code == 200
    assert len(_csv(response)) == 1  # the header only
    assert patient.last_name not in client.get(URL).text


def test_a_user_in_two_clinics_chooses_between_them(client, staff, other_clinic):
    MembershipFactory(user=staff, clinic=other_clinic, role=Role.STAFF)
    client.force_login(staff)

    response = client.get(URL, {"clinic": other_clinic.pk})

    assert response.status_code == 200
    assert f"Clinic report: {other_clinic.name}" in response.text


# -- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "2026-13-01"}, "start", "Enter a valid date."),
        ({"start": "2026-06-10", "end": "2026-06-01"}, "start", "on or before the last day"),
        ({"start": "2024-01-01", "end": "2026-06-01"}, "start", "at most 366 days"),
        ({"ready_days": "-1"}, "ready_days", "greater than or equal to 0"),
        ({"end": "0001-01-10"}, "end", "Choose a day from 01 Jan 1900 to today"),
        ({"start": "0001-01-01", "end": "0001-01-05"}, "start", "Choose a day from 01 Jan 1900"),
        ({"start": "9999-12-25", "end": "9999-12-31"}, "end", "to today"),
    ],
)
def test_bad_filters_are_refused_with_the_field_and_the_reason(
    client, staff, params, field, message
):
    client.force_login(staff)

    response = client.get(URL, params)

    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert "report" not in response.context
    assert message in response.text


def test_a_therapist_of_another_clinic_is_refused_as_a_filter(client, staff, outsider, clinic):
    client.force_login(staff)
    MembershipFactory(user=staff, clinic=outsider.memberships.get().clinic, role=Role.STAFF)

    response = client.get(URL, {"clinic": clinic.pk, "therapist": outsider.pk})

    assert response.status_code == 400
    assert "does not work at" in str(response.context["form"].errors["therapist"])


def test_the_default_range_is_the_last_30_days(client, staff, clinic):
    client.force_login(staff)

    scope = client.get(URL).context["scope"]

    today = clinic.local_date(timezone.now())
    assert (scope.first, scope.last) == (today - dt.timedelta(days=29), today)
    assert scope.ready_days == 7


def test_the_therapist_filter_narrows_the_report(client, staff, therapist, colleague, patient):
    theirs = PatientFactory(clinic=patient.clinic, primary_therapist=colleague, last_name="Zed")
    for p in (patient, theirs):
        rx = PrescriptionFactory(patient=p, started_at=timezone.now() - dt.timedelta(days=3))
        SetLogFactory(prescription=rx, pain=8)
    client.force_login(staff)

    rows = _csv(
        client.get(URL, {"therapist": colleague.pk, "format": "csv", "table": "pain_alerts"})
    )

    assert [r[0] for r in rows[1:]] == [theirs.full_name]


# -- downloads ---------------------------------------------------------------------------------

TABLES = [
    "stages",
    "changes",
    "time_at_stage",
    "backlog",
    "pain",
    "pain_alerts",
    "sessions",
    "windows",
    "bands",
    "clearance_waiting",
    "clearance_review",
]


@pytest.mark.parametrize("table", TABLES)
def test_every_table_downloads_as_csv(client, staff, table):
    client.force_login(staff)

    response = client.get(URL, {"format": "csv", "table": table})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert len(_csv(response)[0]) >= 2
    page = client.get(URL).text
    assert f"format=csv&amp;table={table}" in page  # and the page links to it


def test_a_download_names_the_tables_when_none_or_an_unknown_one_is_asked(client, staff):
    client.force_login(staff)
    for params in ({"format": "csv"}, {"format": "csv", "table": "secrets"}):
        response = client.get(URL, params)
        assert response.status_code == 400
        assert "table: choose which table to download (stages, changes" in response.text


def test_a_download_matches_the_page_filters(client, staff, patient, therapist):
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=60),
    )
    prescription_advance(prescription=rx, by=therapist, at=timezone.now() - dt.timedelta(days=45))
    client.force_login(staff)

    recent = _csv(client.get(URL, {"format": "csv", "table": "changes"}))
    longer = _csv(
        client.get(
            URL,
            {
                "format": "csv",
                "table": "changes",
                "start": str(timezone.localdate() - dt.timedelta(days=90)),
            },
        )
    )

    assert dict(recent[1:]) == {"Started": "0", "Progressed": "0", "Regressed": "0", "Stopped": "0"}
    assert dict(longer[1:]) == {"Started": "1", "Progressed": "1", "Regressed": "0", "Stopped": "0"}


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        # A tab or line break is also where a reader may start a cell: the `=` after it too.
        ("\t=1", "'\t'=1"),
        ("\r=1", "'\r'=1"),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_quoted(
    client, staff, clinic, therapist, text, written
):
    # Names are typed by staff, but a name is still text: it must never run as a formula.
    patient = PatientFactory(
        clinic=clinic,
        first_name=text,
        last_name="Doe",
        requires_clearance=True,
        clearance_reason="pelvic fracture",
    )
    client.force_login(staff)

    rows = _csv(client.get(URL, {"format": "csv", "table": "clearance_waiting"}))

    assert rows[1][0] == written + " Doe" == safe_cell(patient.full_name)
    assert safe_cell(text) == written


def test_numbers_and_plain_text_are_written_as_they_are():
    assert safe_cell(-3) == -3
    assert safe_cell(2.5) == 2.5
    assert safe_cell(dt.date(2026, 6, 1)) == "2026-06-01"
    assert safe_cell("Maya Lindqvist") == "Maya Lindqvist"
    assert safe_cell(None) == ""
    assert safe_cell(True) == "yes"


# -- cost --------------------------------------------------------------------------------------


def _busy_clinic(clinic, therapist, patients: int) -> None:
    now = timezone.now()
    for i in range(patients):
        p = PatientFactory(
            clinic=clinic,
            primary_therapist=therapist,
            requires_clearance=i % 3 == 0,
            clearance_reason="pelvic fracture" if i % 3 == 0 else "",
        )
        if i % 3 == 0:
            record_clearance(
                p,
                by=therapist,
                signed_on=timezone.localdate() - dt.timedelta(days=55),
                review_on=timezone.localdate() + dt.timedelta(days=3 + i),
            )
        rx = prescription_start(
            patient=p, side="left", stage=stage(1), by=therapist, at=now - dt.timedelta(days=50)
        )
        for day in range(0, 40, 3):
            SetLogFactory(
                prescription=rx,
                reps=12 + day // 3,
                pain=7 if day == 30 else 2,
                performed_at=now - dt.timedelta(days=49 - day),
            )
        prescription_advance(prescription=rx, by=therapist, at=now - dt.timedelta(days=8 - i % 5))


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL, params).status_code == 200
    return len(ctx.captured_queries)


def test_the_report_costs_the_same_queries_for_2_or_12_patients(client, staff, clinic, therapist):
    client.force_login(staff)
    params = {"start": str(timezone.localdate() - dt.timedelta(days=60))}
    _busy_clinic(clinic, therapist, 2)
    small = _queries(client, params)
    small_csv = _queries(client, {**params, "format": "csv", "table": "windows"})

    _busy_clinic(clinic, therapist, 10)

    assert _queries(client, params) == small
    assert _queries(client, {**params, "format": "csv", "table": "windows"}) == small_csv
    assert small <= 25
    page = client.get(URL, params).text
    assert "Days at a stage before progressing" in page and "No one progressed" not in page


def test_a_long_table_is_shown_a_page_at_a_time_and_whole_in_its_csv(
    client, staff, clinic, therapist, monkeypatch
):
    # Three rows per page stands for fifty: the paging is the same.
    monkeypatch.setattr(reports, "SHOWN_ROWS", 3)
    client.force_login(staff)
    _busy_clinic(clinic, therapist, 7)
    params = {"start": str(timezone.localdate() - dt.timedelta(days=60))}

    first = client.get(URL, params).context["report"].tables["sessions"]
    assert len(first.cells) == 3
    assert "(rows 1–3 of 7; the CSV has every row)" in first.table.title
    assert first.previous_page is None and first.next_page == {"page_sessions": 2}

    page = client.get(URL, {**params, "page_sessions": 3, "page_windows": 2})
    last = page.context["report"].tables["sessions"]
    assert [len(last.cells), last.page.number] == [1, 3]
    assert "(rows 7–7 of 7" in last.table.title
    # Each table keeps its own page; the links keep the filters and the other tables' pages.
    assert page.context["report"].tables["windows"].page.number == 2
    html = page.text
    assert 'href="?start=' in html and "page_sessions=2&amp;page_windows=2#table-sessions" in html

    # A page number out of range or not a number shows the last or the first page, as a pager does.
    assert (
        client.get(URL, {**params, "page_sessions": 99})
        .context["report"]
        .tables["sessions"]
        .page.number
        == 3
    )
    assert (
        client.get(URL, {**params, "page_sessions": "x"})
        .context["report"]
        .tables["sessions"]
        .page.number
        == 1
    )
    # The CSV holds every row whatever page the page shows.
    rows = _csv(
        client.get(URL, {**params, "page_sessions": 2, "format": "csv", "table": "sessions"})
    )
    assert len(rows) == 1 + 7
