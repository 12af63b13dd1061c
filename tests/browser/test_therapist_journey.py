"""A therapist signs in, filters the caseload to "ready to progress", advances a ready patient,
records a clearance note for a patient who needs one and starts that gated patient's prescription
(issue 4, "Done when")."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from exercises import services
from exercises.models import Prescription
from tests.browser.conftest import sign_in
from tests.factories import SetLogFactory, pdf_scan, stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def caseload(patient, other_patient, patient_requiring_clearance, therapist):
    """Maya is ready on the left (20 reps, pain 1); Omar is not (8 reps); Ines needs clearance
    after a pelvic fracture and has none yet."""
    started = timezone.now() - dt.timedelta(days=10)
    maya = services.prescription_start(
        patient=patient, side="left", stage=stage(1), by=therapist, at=started
    )
    SetLogFactory(prescription=maya, reps=20, pain=1, logged_by=patient.user)
    omar = services.prescription_start(
        patient=other_patient, side="left", stage=stage(1), by=therapist, at=started
    )
    SetLogFactory(prescription=omar, reps=8, pain=2, logged_by=other_patient.user)
    return {"maya": patient, "omar": other_patient, "ines": patient_requiring_clearance}


def _open(page: Page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_title(f"{name} · Clamshell clinic")


def _message(page: Page):
    return page.locator(".messages")


def test_a_therapist_advances_a_ready_patient_and_starts_a_gated_one_after_clearance(
    reseed_after_flush, live_server, open_context, shoot, therapist, clinic, caseload
):
    page = open_context().new_page()
    sign_in(page, live_server.url, "thera")
    expect(page).to_have_url(re.compile(r"/dashboard/"))
    expect(page.get_by_role("link", name="Omar Haddad")).to_be_visible()
    shoot(page, "dashboard")

    # Filter to "ready to progress": in place with htmx, the URL follows.
    page.wait_for_load_state()
    page.get_by_label("Alert").select_option(label="Ready to progress")
    expect(page.get_by_role("link", name="Omar Haddad")).to_have_count(0)
    expect(page.get_by_role("link", name="Maya Lindqvist")).to_be_visible()
    expect(page).to_have_url(re.compile(r"alert=ready"))
    shoot(page, "dashboard-ready")

    # Open the ready patient and advance her left side.
    _open(page, "Maya Lindqvist")
    left = page.locator("#side-left")
    expect(left).to_contain_text("Ready to progress")
    shoot(page, "patient-ready")
    left.get_by_role("button", name="Advance to stage 2").click()
    expect(_message(page)).to_contain_text(re.compile("left side advanced to stage 2", re.I))
    expect(page.locator("#side-left h3")).to_contain_text(re.compile("stage 2", re.I))
    shoot(page, "patient-advanced")
    current = Prescription.objects.active().get(patient=caseload["maya"], side="left")
    assert current.stage.number == 2

    # Back to the caseload: find the patient whose clearance is missing.
    page.get_by_role("link", name="← Caseload").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    page.wait_for_load_state()  # htmx binds the filters once the page has loaded
    page.get_by_label("Alert").select_option(label="Clearance missing")
    expect(page.get_by_role("link", name="Maya Lindqvist")).to_have_count(0)
    _open(page, "Ines Duarte")

    # Without clearance no stage can start: the card says so and why, and offers no start form
    # that could only be refused (the gate refuses a start posted anyway: tests/patients).
    left = page.locator("#side-left")
    expect(left).to_contain_text("No stage can start yet:")
    expect(left).to_contain_text("needs medical clearance (pelvic fracture)")
    expect(left.get_by_role("button", name="Start the left side")).to_have_count(0)
    shoot(page, "gated-no-clearance")
    assert not Prescription.objects.filter(patient=caseload["ines"]).exists()

    # Record the medical team's note, with a movement precaution for her left hip…
    today = clinic.local_date(timezone.now())
    note = page.locator("#clearance")
    _ensure_open(note, "Record a clearance note")
    note.get_by_label("Decision").select_option(label="Cleared with restrictions")
    note.get_by_label("Procedure or injury:", exact=True).fill(
        "Pelvic fracture, conservatively managed"
    )
    note.get_by_label("Date of the procedure or injury").fill(
        f"{today - dt.timedelta(days=50):%Y-%m-%d}"
    )
    note.get_by_label("Signed by").fill("Dr. Ada Osei")
    note.get_by_label("Their credentials").fill("MD, orthopaedics")
    note.get_by_label("Date signed").fill(f"{today - dt.timedelta(days=1):%Y-%m-%d}")
    note.get_by_label("Review or expiry date").fill(f"{today + dt.timedelta(days=60):%Y-%m-%d}")
    note.get_by_label("Highest stage allowed").select_option(label="Up to stage 3")
    note.get_by_label("No hip internal rotation past neutral").check()
    note.get_by_label("Operated or injured side").select_option(label="Left")
    note.get_by_label("Scanned copy of the signed note").set_input_files(
        files=[{"name": "osei-sign-off.pdf", "mimeType": "application/pdf", "buffer": pdf_scan()}]
    )
    shoot(page, "clearance-form")
    note.get_by_role("button", name="Record the note").click()
    expect(_message(page)).to_contain_text(re.compile("clearance note recorded", re.I))
    expect(page.locator("#clearance")).to_contain_text("Dr. Ada Osei")
    expect(page.locator("#clearance")).to_contain_text("No hip internal rotation past neutral")
    expect(page.locator("#clearance").get_by_role("link", name="osei-sign-off.pdf")).to_be_visible()

    # …then stage 1 (the hip turns outwards) may start, and stages 2–3 say why they may not.
    left = page.locator("#side-left")
    _ensure_open(left, "Start a prescription on the left side")
    expect(left).to_contain_text("Stage 2 turns the left hip inwards")
    stage_select = left.get_by_label(re.compile(r"^Stage:?$"))
    expect(stage_select.locator(f"option[value='{stage(2).pk}']")).to_be_disabled()
    stage_select.select_option(str(stage(1).pk))
    left.get_by_role("button", name="Start the left side").click()
    expect(_message(page)).to_contain_text(re.compile("left side started at stage 1", re.I))
    expect(page.locator("#side-left h3")).to_contain_text(re.compile("stage 1", re.I))
    # The advance the clearance rules out is offered disabled, with the reason beside it.
    advance = page.locator("#side-left").get_by_role("button", name="Advance to stage 2")
    expect(advance).to_be_disabled()
    expect(page.locator("#blocked-left")).to_contain_text("Stage 2 turns the left hip inwards")
    shoot(page, "gated-started")
    started = Prescription.objects.active().get(patient=caseload["ines"], side="left")
    assert started.stage.number == 1 and started.prescribed_by == therapist


def _ensure_open(scope, summary: str) -> None:
    """Open a <details> by its summary unless it is open already (forms live in them)."""
    details = scope.locator("details", has=scope.page.get_by_text(summary, exact=True))
    if details.get_attribute("open") is None:
        details.locator("summary").click()
