"""A therapist opens a patient's progression report, on screen and as it prints: A4 and Letter PDFs
are produced, the site's chrome and the download links stay off paper, and nothing is fetched from
anywhere but the app (issue: per-patient progression report)."""

import datetime as dt
import re
import zoneinfo

import pytest
from playwright.sync_api import expect

from exercises import services
from patients.models import Decision
from tests.browser.conftest import sign_in
from tests.factories import SetLogFactory, record_clearance, stage

pytestmark = pytest.mark.django_db(transaction=True)

LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


@pytest.fixture
def history(patient_requiring_clearance, therapist, colleague):
    """Ines, six weeks after a pelvic fracture: not cleared at first, then cleared up to stage 3;
    both sides climbing, a pain spike on the left and a step back, the right side advanced by the
    system, a set voided."""
    patient = patient_requiring_clearance
    today = dt.datetime.now(LONDON).date()
    first = today - dt.timedelta(days=40)
    record_clearance(
        patient,
        by=therapist,
        signed_on=first - dt.timedelta(days=7),
        review_on=first + dt.timedelta(days=20),
        decision=Decision.NOT_CLEARED,
    )
    record_clearance(
        patient,
        by=colleague,
        signed_on=first,
        review_on=today + dt.timedelta(days=50),
        decision=Decision.RESTRICTED,
        max_stage=3,
        restrictions="Weight-bearing as tolerated; no stage 4 before the 12-week review.",
    )
    left = services.prescription_start(
        patient=patient, side="left", stage=stage(1), by=therapist, at=at(first, 9)
    )
    right = services.prescription_start(
        patient=patient,
        side="right",
        stage=stage(1),
        by=therapist,
        at=at(first, 9, 5),
        auto_advance=True,
    )

    def sets(rx, days, reps, pain=1):
        return [
            SetLogFactory(
                prescription=rx,
                performed_at=at(first + dt.timedelta(days=d), 18, 30),
                reps=r,
                pain=pain,
                logged_by=therapist,
            )
            for d, r in zip(days, reps, strict=True)
        ]

    sets(left, [1, 2, 4, 5, 7, 8, 9], [8, 10, 12, 14, 17, 19, 21])
    left = services.prescription_advance(
        prescription=left, by=therapist, at=at(first + dt.timedelta(days=10), 10), note="21 reps."
    )
    sets(left, [11, 13, 14, 16], [9, 12, 15, 20])
    left = services.prescription_advance(
        prescription=left, by=colleague, at=at(first + dt.timedelta(days=17), 10)
    )
    sets(left, [18, 19], [8, 10])
    SetLogFactory(
        prescription=left,
        performed_at=at(first + dt.timedelta(days=20), 19),
        reps=6,
        pain=7,
        note="Sharp pain in the groin",
        logged_by=therapist,
    )
    left = services.prescription_regress(
        prescription=left,
        by=therapist,
        at=at(first + dt.timedelta(days=21), 9),
        note="Pain 7/10 at stage 3: back to stage 2.",
    )
    sets(left, [23, 25, 27, 30, 33, 36, 38], [10, 12, 13, 15, 16, 18, 19], pain=2)
    sets(right, [1, 3, 5, 8, 10, 12], [10, 12, 15, 17, 19, 21])
    right = services.prescription_advance(
        prescription=right,
        by=None,
        at=at(first + dt.timedelta(days=12), 19),
        note="Ready: 21 reps.",
    )
    [double, *_] = sets(right, [15, 18, 22, 26, 29, 34, 37], [10, 12, 14, 15, 17, 18, 20])
    services.set_void(set_log=double, by=therapist, reason="Logged twice by mistake")
    return patient


def test_a_therapist_reads_and_prints_a_patients_progression_report(
    reseed_after_flush, live_server, open_context, shoot, therapist, history, tmp_path
):
    page = open_context().new_page()
    sign_in(page, live_server.url, "thera")
    page.goto(f"{live_server.url}/reports/patients/{history.pk}/")
    expect(page).to_have_title("Progression report: Ines Duarte · Clamshell clinic")
    expect(page.locator("#chart-left")).to_be_visible()
    expect(page.locator("#chart-right")).to_be_visible()
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_visible()
    expect(page.locator("#side-right")).to_contain_text("automatic (system)")
    expect(page.locator("#sets tr.voided")).to_have_count(1)
    shoot(page, "report-screen")

    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator(".pr-period")).to_be_hidden()
    expect(page.locator("a.pr-csv").first).to_be_hidden()
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_hidden()
    expect(page.locator("h1")).to_contain_text("Ines Duarte")
    # The line repeated at the top of every printed page names the patient.
    expect(page.locator(".pr-running")).to_be_visible()
    expect(page.locator(".pr-running")).to_contain_text("Ines Duarte · Record")
    shoot(page, "report-print")

    for paper in ("A4", "Letter"):
        path = tmp_path / f"report-{paper}.pdf"
        page.pdf(path=str(path), format=paper, print_background=False)
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
        assert 2 <= pages <= 8, f"{paper}: {pages} pages"
