"""Every page works under the enforced Content Security Policy (docs/security.md).

Each role visits its pages in Chromium with the policy the app sends (script-src and style-src
'self' plus a per-response nonce: no inline script, inline style="" or on* handler runs). Chromium
reports every blocked inline script, style or load on the console ("Refused to …"); any such
message fails the test. The htmx actions are exercised too, so a swap that needed something the
policy blocks would show up here, not in a clinic.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Response, expect

from exercises import services
from tests.browser.conftest import PHONE, sign_in
from tests.factories import PASSWORD, SetLogFactory, UserFactory, stage

pytestmark = pytest.mark.django_db(transaction=True)


class PolicyWatch:
    """Console reports of the policy at work, and documents served without the enforced policy."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.unprotected: list[str] = []
        self.documents = 0

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.violations.append(f"page error: {error.error}"))
        context.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            self.violations.append(f"{message.location.get('url')}: {message.text}")

    def _response(self, response: Response) -> None:
        if response.request.resource_type != "document" or response.status >= 300:
            return
        self.documents += 1
        policy = response.headers.get("content-security-policy", "")
        if "script-src 'self' 'nonce-" not in policy or "style-src 'self' 'nonce-" not in policy:
            self.unprotected.append(response.url)


@pytest.fixture
def policy_page(open_context) -> Callable[..., Page]:
    """A page in a fresh context whose console is watched for policy violations."""
    watches: list[PolicyWatch] = []

    def make(**kwargs) -> Page:
        context = open_context(**kwargs)
        watch = PolicyWatch()
        watch.attach(context)
        watches.append(watch)
        return context.new_page()

    yield make
    for watch in watches:
        assert watch.documents, "no page was loaded"
        assert not watch.unprotected, f"pages without the enforced policy: {watch.unprotected}"
        assert not watch.violations, "\n".join(watch.violations)


@pytest.fixture
def caseload(patient, other_patient, therapist):
    """Maya: stage 2 on the left, ready (20 reps), with more logs than one page holds; Omar: stage 1,
    not ready. Enough for every chart, alert and pager to render."""
    started = timezone.now() - dt.timedelta(days=20)
    maya = services.prescription_start(
        patient=patient, side="left", stage=stage(2), by=therapist, at=started
    )
    for day in range(24):
        SetLogFactory(
            prescription=maya,
            reps=8 + day % 12,
            pain=day % 4,
            performed_at=started + dt.timedelta(days=day % 19, hours=1),
            logged_by=patient.user,
        )
    SetLogFactory(prescription=maya, reps=20, pain=1, logged_by=patient.user)
    omar = services.prescription_start(
        patient=other_patient, side="right", stage=stage(1), by=therapist, at=started
    )
    SetLogFactory(prescription=omar, reps=8, pain=6, logged_by=other_patient.user)
    return {"maya": patient, "omar": other_patient}


def test_the_therapists_pages_and_htmx_actions_run_under_the_policy(
    reseed_after_flush, live_server, policy_page, shoot, therapist, caseload
):
    page = policy_page()
    sign_in(page, live_server.url, "thera")
    expect(page).to_have_url(re.compile(r"/dashboard/"))
    shoot(page, "dashboard")

    # The dashboard's filters swap the caseload in place (htmx).
    page.get_by_label("Alert").select_option(label="Ready to progress")
    expect(page.get_by_role("link", name="Omar Haddad")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"alert=ready"))

    # The patient page: chart, plan, logs paged in place (htmx), then a stage change.
    page.get_by_role("link", name="Maya Lindqvist", exact=True).click()
    expect(page.locator("#side-left")).to_contain_text("Ready to progress")
    expect(page.locator("svg.chart").first).to_be_visible()
    shoot(page, "patient")
    url = page.url
    page.locator("#logs").get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#logs").get_by_role("link", name="← Newer")).to_be_visible()
    page.goto(url)
    page.locator("#side-left").get_by_role("button", name="Advance to stage 3").click()
    expect(page.locator(".messages")).to_contain_text(re.compile("advanced to stage 3", re.I))
    shoot(page, "patient-advanced")

    page.goto(f"{live_server.url}/patients/{caseload['maya'].pk}/history/")
    expect(page.locator("main")).to_contain_text(re.compile("stage 3", re.I))

    # The progression report: its Print button is revealed by our own script file.
    page.goto(f"{live_server.url}/reports/patients/{caseload['maya'].pk}/")
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_visible()
    shoot(page, "patient-report")


def test_the_patients_page_and_its_log_form_run_under_the_policy(
    reseed_after_flush, live_server, policy_page, shoot, caseload
):
    page = policy_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, live_server.url, "maya")
    expect(page).to_have_url(f"{live_server.url}/me/")
    card = page.locator("#side-left")
    card.get_by_label("Reps in this set").fill("12")
    card.get_by_role("radio", name="2 mild, fine").check()
    card.get_by_role("button", name="Save set").click()
    # Swapped in place by htmx, the summary updated out of band.
    expect(page.locator("#side-left [role=status]")).to_contain_text("Saved: 12 reps")
    shoot(page, "me-saved")


def test_the_clinic_report_runs_under_the_policy(
    reseed_after_flush, live_server, policy_page, shoot, staff, caseload
):
    page = policy_page()
    sign_in(page, live_server.url, "staffer")
    expect(page).to_have_url(re.compile(r"/reports/"))
    expect(page.locator("svg.report-chart").first).to_be_visible()
    shoot(page, "clinic-report")
    page.get_by_role("link", name="Access log").click()
    expect(page.locator("main h1")).to_be_visible()
    shoot(page, "access-log")


def test_the_admin_runs_under_the_policy(
    reseed_after_flush, live_server, policy_page, shoot, caseload
):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    page = policy_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(f"{live_server.url}/admin/patients/patient/")
    expect(page.get_by_role("link", name=re.compile("Lindqvist"))).to_be_visible()
    shoot(page, "admin-changelist")
    page.get_by_role("link", name=re.compile("Lindqvist")).first.click()
    # The change form's own scripts run: the date widget adds its calendar shortcut.
    expect(page.locator("#id_date_of_birth")).to_be_visible()
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()
    shoot(page, "admin-change")


def test_the_api_docs_run_under_the_policy(reseed_after_flush, live_server, policy_page, shoot):
    page = policy_page()
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI is drawn by scripts: its title and operations appear only if they ran.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Clamshell clinic patient API")
    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    shoot(page, "api-docs")
