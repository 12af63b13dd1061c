"""The audit trail as a reviewer reads it: a staff member views a patient's page and report and
downloads a table; the therapist then opens the patient's audit history and finds those views and
exports among the changes, newest first; staff read the clinic's access log (issue 7)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from exercises import services
from tests.browser.conftest import sign_in
from tests.factories import SetLogFactory, stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def record(patient, therapist, staff):
    """Maya on stage 1 of the left side with three sets, one voided."""
    staff.first_name, staff.last_name = "Sam", "Okafor"
    staff.save()
    therapist.first_name, therapist.last_name = "Tess", "Quinn"
    therapist.save()
    rx = services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=6),
    )
    sets = [
        SetLogFactory(
            prescription=rx,
            logged_by=therapist,
            reps=10 + i,
            pain=2,
            performed_at=timezone.now() - dt.timedelta(days=5 - i),
        )
        for i in range(3)
    ]
    services.set_void(set_log=sets[0], by=therapist, reason="Logged twice by mistake")
    return patient


def test_the_history_shows_views_and_exports_among_the_changes(
    reseed_after_flush, live_server, open_context, shoot, record
):
    base = live_server.url
    # A staff member reads the record and takes a table away.
    reviewer = open_context().new_page()
    sign_in(reviewer, base, "staffer")
    reviewer.goto(f"{base}/patients/{record.pk}/")
    expect(reviewer.locator("h1")).to_contain_text("Maya Lindqvist")
    reviewer.goto(f"{base}/reports/patients/{record.pk}/")
    with reviewer.expect_download() as download:
        reviewer.locator("#sets a.pr-csv").click()
    assert download.value.suggested_filename.endswith("-sets.csv")

    # The therapist opens the patient's audit history.
    page = open_context().new_page()
    sign_in(page, base, "thera")
    page.goto(f"{base}/patients/{record.pk}/history/")
    expect(page).to_have_title("Audit history · Maya Lindqvist · Clamshell clinic")
    access = page.locator("li.audit-entry.access")
    expect(access).to_have_count(3)
    # Newest first: the download, the report, the page.
    expect(access.nth(0)).to_contain_text("Sam Okafor")
    expect(access.nth(0)).to_contain_text("Exported")
    expect(access.nth(0)).to_contain_text("Progression report table (CSV)")
    expect(access.nth(1)).to_contain_text("Viewed")
    expect(access.nth(1)).to_contain_text("Progression report")
    expect(access.nth(2)).to_contain_text("Patient page")
    # The changes keep their before → after.
    voided = page.locator("li.audit-entry:not(.access)").first
    expect(voided).to_contain_text("Tess Quinn")
    expect(voided.locator("td.after").first).to_contain_text("Logged twice by mistake")
    shoot(page, "history-everything")

    page.get_by_label("Show").select_option("views")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("li.audit-entry:not(.access)")).to_have_count(0)
    # The therapist's own first visit to this page is now on it too.
    expect(page.locator("li.audit-entry.access")).to_have_count(4)
    expect(page.locator("li.audit-entry.access").first).to_contain_text("Audit history")
    shoot(page, "history-views-only")

    # The staff member reads the clinic's access log, which lists the therapist's visits too.
    reviewer.goto(f"{base}/reports/")
    reviewer.get_by_role("link", name="Access log").click()
    expect(reviewer.locator("h1")).to_contain_text("Access log: Riverside Physio")
    rows = reviewer.locator("table.access-log tbody tr")
    expect(rows.first).to_contain_text("Tess Quinn")
    expect(rows.first).to_contain_text("Viewed the audit history")
    shoot(reviewer, "access-log")
