"""Staff open the clinic report, narrow it to one therapist and download a table (issue 5)."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from exercises import services
from tests.browser.conftest import sign_in
from tests.factories import SetLogFactory, stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_read_the_clinic_report_and_download_a_table(
    reseed_after_flush, live_server, open_context, shoot, requests_made, staff, therapist, patient
):
    now = timezone.now()
    rx = services.prescription_start(
        patient=patient, side="left", stage=stage(1), by=therapist, at=now - dt.timedelta(days=25)
    )
    for day in range(24, 12, -2):
        SetLogFactory(prescription=rx, reps=14, pain=2, performed_at=now - dt.timedelta(days=day))
    rx = services.prescription_advance(
        prescription=rx, by=therapist, at=now - dt.timedelta(days=12)
    )
    SetLogFactory(prescription=rx, reps=10, pain=7, performed_at=now - dt.timedelta(days=1))

    page = open_context().new_page()
    sign_in(page, live_server.url, "staffer")
    expect(page).to_have_url(re.compile(r"/reports/"))
    expect(page.get_by_role("heading", name="Clinic report: Riverside Physio")).to_be_visible()
    # Every chart says in words what it shows, and has its table beside it.
    chart = page.locator("#chart-stages")
    expect(chart).to_have_attribute("role", "img")
    expect(page.locator("#chart-stages-desc")).to_contain_text("Stage 2 left: 0 then 1.")
    pain_alerts = page.locator("#table-pain_alerts")
    expect(pain_alerts.get_by_role("link", name="Maya Lindqvist")).to_be_visible()
    shoot(page, "clinic-report")

    page.get_by_label("Therapist").select_option(label="thera")
    page.get_by_role("button", name="Show report").click()
    expect(page).to_have_url(re.compile(rf"therapist={therapist.pk}"))

    with page.expect_download() as download:
        page.locator("#table-windows").get_by_role("link", name=re.compile("Download CSV")).click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    # Text cells are quoted (spreadsheets that split on `;` keep them whole).
    assert text.splitlines()[0].startswith('"Patient","Record","Window"')
    assert "Maya Lindqvist" in text
    assert requests_made.foreign(live_server.url) == []
