"""Every CSV download, read as a spreadsheet in any locale would read it: split on `,` (English) or
on `;` (Excel in German or French), no cell starts a formula.

A patient's note `x;=1+1;P10` and names starting with `=` travel into every table of the clinic
report and of the patient's progression report; each download is then read with Python's csv module
with either separator.
"""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.reports.csv_export import safe_cell
from exercises.services import prescription_advance, prescription_start
from tests.factories import PatientFactory, SetLogFactory, UserFactory, record_clearance, stage

NOTE = "x;=1+1;P10"
NAME = '=HYPERLINK("http://evil.example")'
HOSTILE = [
    NOTE,
    "a|=cmd|' /C calc'!A0",
    "a\t@SUM(A1)",
    'a;"=1+1',
    "a; -2+3",
    "a\n=1+1",
    "a\r\n+1",
    "a;",
]
CLINIC_TABLES = [
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
PATIENT_TABLES = ["steps", "stage-summary", "windows", "weekly-sessions", "clearance-notes", "sets"]
TRIGGERS = "=+-@"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def starts_a_formula(cell: str) -> bool:
    """A cell a spreadsheet would run: a trigger first, after any spaces, tabs, line breaks and
    quotes a reader may drop. A bare number (`-3`, from the database) is a number."""
    text = cell.lstrip(" \t\r\n\"'")
    if cell.startswith("'"):  # the quote that turns what follows into text
        return False
    return text[:1] != "" and text[0] in TRIGGERS and not _is_number(text)


def read(response, separator: str) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=separator))


def assert_no_formula(response, what: str) -> list[list[str]]:
    rows = {}
    for separator in (",", ";"):
        rows[separator] = read(response, separator)
        for row in rows[separator]:
            for cell in row:
                assert not starts_a_formula(cell), (what, separator, cell, row)
    return rows[","]


@pytest.fixture
def hostile_clinic(clinic, therapist):
    """A patient whose name starts with `=`, with sets whose notes split into formulas, high pain,
    a stage change with such a note and a clearance note due for review; another waiting for
    clearance."""
    today = timezone.localdate()
    patient = PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name=NAME,
        last_name=NOTE,
        record_number="MRN;=1+1",  # not the first column: a `;` reader splits it
        requires_clearance=True,
        clearance_reason=NOTE,
        user=UserFactory(username="hostile"),
    )
    record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=20),
        review_on=today + dt.timedelta(days=3),
        max_stage=3,
        restrictions=NOTE,
    )
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=12),
    )
    for days, note in enumerate(HOSTILE, start=1):
        SetLogFactory(
            prescription=rx,
            performed_at=timezone.now() - dt.timedelta(days=days, hours=2),
            pain=8,
            note=note,
            logged_by=patient.user,
        )
    prescription_advance(prescription=rx, by=therapist, note=NOTE)
    PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name=NAME,
        last_name="-Doe",
        requires_clearance=True,
        clearance_reason="@pelvic;=fracture",
    )
    return patient


@pytest.mark.parametrize("table", CLINIC_TABLES)
def test_no_clinic_report_table_starts_a_formula_with_either_separator(
    client, staff, hostile_clinic, table
):
    client.force_login(staff)
    start = timezone.localdate() - dt.timedelta(days=60)
    response = client.get(reverse("reports"), {"format": "csv", "table": table, "start": start})
    assert_no_formula(response, table)


@pytest.mark.parametrize("table", PATIENT_TABLES)
def test_no_progression_report_table_starts_a_formula_with_either_separator(
    client, therapist, hostile_clinic, table
):
    client.force_login(therapist)
    start = timezone.localdate() - dt.timedelta(days=60)
    response = client.get(
        reverse("patient-report", args=[hostile_clinic.pk]),
        {"format": "csv", "table": table, "from": start},
    )
    assert_no_formula(response, table)


def test_the_hostile_text_reaches_the_files_and_reads_back_neutralised(
    client, therapist, staff, hostile_clinic
):
    """The tests above see the hostile text: a `,` reader gets every note whole, quoted."""
    client.force_login(therapist)
    start = timezone.localdate() - dt.timedelta(days=60)
    sets = assert_no_formula(
        client.get(
            reverse("patient-report", args=[hostile_clinic.pk]),
            {"format": "csv", "table": "sets", "from": start},
        ),
        "sets",
    )
    notes = {row[8] for row in sets[1:]}
    assert notes == {safe_cell(note) for note in HOSTILE}
    assert "x;'=1+1;P10" in notes
    client.force_login(staff)
    waiting = assert_no_formula(
        client.get(reverse("reports"), {"format": "csv", "table": "clearance_waiting"}),
        "clearance_waiting",
    )
    assert ["'" + NAME + " -Doe"] in [row[:1] for row in waiting]


def test_text_cells_are_quoted_and_numbers_left_bare(client, staff, hostile_clinic):
    client.force_login(staff)
    response = client.get(reverse("reports"), {"format": "csv", "table": "changes"})
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('"')  # the header is text
    assert all(line.startswith('"') for line in lines)
    assert any(line.endswith(",1") or line.endswith(",0") for line in lines[1:])


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (NOTE, "x;'=1+1;P10"),
        ("=1+1", "'=1+1"),
        ("a|=cmd|' /C calc'!A0", "a|'=cmd|' /C calc'!A0"),
        ("a\t@SUM(A1)", "a\t'@SUM(A1)"),
        ('a;"=1', "a;'\"=1"),
        ("a; -1", "a;' -1"),
        ("a\n+1", "a\n'+1"),
        ("\t=1", "'\t'=1"),
        ("a;b|c\td", "a;b|c\td"),
        ("a-b=c@d", "a-b=c@d"),  # a trigger inside a word is no cell start
    ],
)
def test_a_trigger_after_a_separator_gets_the_same_quote_as_one_at_the_start(text, written):
    assert safe_cell(text) == written
