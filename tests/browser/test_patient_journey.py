"""A patient on a phone signs in, reads the plan and logs a set; the therapist's dashboard then
shows it (issue 4, "Done when")."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from exercises import services
from exercises.models import PainReview, Prescription, SetLog, Source
from tests.browser.conftest import DESKTOP, PHONE, sign_in
from tests.factories import stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan(patient, therapist):
    return services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(2),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
        target_sets=3,
        target_reps=12,
        hold_at_top_seconds=2,
        sessions_per_week=4,
    )


def test_a_patient_on_a_phone_reads_the_plan_and_logs_a_set_the_dashboard_then_shows(
    reseed_after_flush, live_server, open_context, shoot, patient, therapist, plan
):
    phone = open_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, live_server.url, "maya")
    shoot(page, "signed-in")

    expect(page).to_have_url(f"{live_server.url}/me/")
    expect(page).to_have_title("My exercises · Clamshell clinic")
    card = page.locator("#side-left")
    expect(
        card.get_by_role("heading", name=re.compile("Stage 2: Reverse clamshell"))
    ).to_be_visible()
    expect(card.get_by_text("3 sets × 12 reps")).to_be_visible()
    expect(card.get_by_text("a slight pause at the top")).to_be_visible()
    expect(card.get_by_text("Today: 0 of 3 sets done.")).to_be_visible()
    # Phone-first: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    card.get_by_label("Reps in this set").fill("12")
    card.get_by_role("radio", name="2 mild, fine").check()
    card.get_by_label("Effort (optional)").select_option("6")
    shoot(page, "form-filled")
    card.get_by_role("button", name="Save set").click()

    # Confirmed in place (htmx): the card is swapped, the page is not reloaded.
    saved = page.locator("#side-left [role=status]")
    expect(saved).to_contain_text("Saved: 12 reps, pain 2/10 on your left side")
    expect(saved).to_be_in_viewport()  # scrolled into view on a phone, not left above the fold
    expect(page.locator("#side-left").get_by_text("Today: 1 of 3 sets done.")).to_be_visible()
    expect(page.locator("#side-left").get_by_label("Reps in this set")).to_have_value("")
    shoot(page, "set-saved")

    # A double tap on the fresh form stores one more set, not two.
    page.locator("#side-left").get_by_label("Reps in this set").fill("14")
    page.locator("#side-left").get_by_role("radio", name="1 mild, fine").check()
    page.locator("#side-left").get_by_role("button", name="Save set").dblclick()
    expect(page.locator("#side-left [role=status]")).to_contain_text("Saved: 14 reps")
    expect(page.locator("#side-left").get_by_text("Today: 2 of 3 sets done.")).to_be_visible()

    sets = list(SetLog.objects.filter(patient=patient).order_by("logged_at"))
    assert [(s.reps, s.pain, s.effort, s.source) for s in sets] == [
        (12, 2, 6, Source.WEB),
        (14, 1, None, Source.WEB),
    ]

    # The therapist, at a clinic desktop, sees the set on the dashboard.
    desk = open_context(viewport=DESKTOP).new_page()
    sign_in(desk, live_server.url, "thera")
    expect(desk).to_have_url(re.compile(r"/dashboard/"))
    row = desk.get_by_role("row").filter(has_text="Maya Lindqvist")
    expect(row.locator(".last-log")).to_contain_text("today")
    expect(row).to_contain_text("14 / 20")  # best reps at this stage against the 20-rep target
    shoot(desk, "dashboard")


def test_a_bad_entry_is_explained_in_place_and_nothing_is_stored(
    reseed_after_flush, live_server, open_context, shoot, patient, plan
):
    page = open_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(page, live_server.url, "maya")
    card = page.locator("#side-left")
    # The browser's own checks stop 150 first; remove them to see the server's answer.
    card.locator("form").evaluate("form => form.noValidate = true")
    card.get_by_label("Reps in this set").fill("150")
    card.get_by_role("radio", name="7 too much").check()
    card.get_by_role("button", name="Save set").click()

    expect(page.locator("#side-left [role=alert]")).to_contain_text("Your set was not saved.")
    expect(page.locator("#id_left-reps-error")).to_have_text(
        "Enter the number of reps you did, from 1 to 100."
    )
    expect(page.locator("#side-left").get_by_label("Reps in this set")).to_have_value("150")
    expect(page.locator("#side-left").get_by_role("radio", name="7 too much")).to_be_checked()
    shoot(page, "error")
    assert not SetLog.objects.exists()


def test_too_much_pain_stops_the_patient_and_the_therapist_reviews_the_alert(
    reseed_after_flush, live_server, open_context, shoot, patient, therapist, plan, clinic
):
    """9/10 on a phone: a warning to stop, with the clinic's number, not a receipt; then 20 reps
    at 0/10 a moment later does not move the side up, and the alert waits on the therapist's
    page, across a stage change, until they record what they decided."""
    clinic.phone = "020 7946 0018"
    clinic.save()
    Prescription.objects.filter(pk=plan.pk).update(auto_advance=True)
    phone = open_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, live_server.url, "maya")
    card = phone.locator("#side-left")
    # The pain key follows the clinic's own thresholds.
    expect(card.locator(".scale-key")).to_contain_text("6+ too much: stop and tell your therapist")
    card.get_by_label("Reps in this set").fill("6")
    card.get_by_role("radio", name="9 too much").check()
    card.get_by_role("button", name="Save set").click()

    warning = phone.locator("#side-left [role=alert]")
    expect(warning).to_contain_text("Stop this exercise for today")
    expect(warning).to_contain_text("Pain 9/10 is more than this exercise should cause")
    expect(
        warning.get_by_role("link", name="Call Riverside Physio: 020 7946 0018")
    ).to_have_attribute("href", "tel:02079460018")
    expect(phone.locator("#side-left [role=status]")).to_have_count(0)  # no calm "Saved"
    expect(warning).to_be_in_viewport()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(phone, "pain-warning")

    phone.locator("#side-left").get_by_label("Reps in this set").fill("20")
    phone.locator("#side-left").get_by_role("radio", name="0 no pain").check()
    phone.locator("#side-left").get_by_role("button", name="Save set").click()
    expect(phone.locator("#side-left [role=status]")).to_contain_text("Saved: 20 reps, pain 0/10")
    assert Prescription.objects.active().get(patient=patient, side="left").stage.number == 2

    desk = open_context(viewport=DESKTOP).new_page()
    sign_in(desk, live_server.url, "thera")
    row = desk.get_by_role("row").filter(has_text="Maya Lindqvist")
    expect(row).to_contain_text("Pain above 5 · left")
    desk.get_by_role("link", name="Maya Lindqvist", exact=True).click()
    alert = desk.locator("#pain-left")
    expect(alert).to_contain_text("Pain alert: 9/10 on the left side")
    shoot(desk, "pain-alert-on-the-patient-page")

    alert.get_by_label("Regress one stage").check()
    alert.get_by_label("Note").fill(
        "Called Maya: sore after gardening. Back to stage 1 for a week."
    )
    alert.get_by_role("button", name="Record the review").click()
    expect(desk.locator(".messages")).to_contain_text(
        "Pain alert on the left side reviewed: regressed."
    )
    expect(desk.locator("#pain-left")).to_have_count(0)
    expect(desk.locator("#side-left h3")).to_contain_text("Stage 1")
    shoot(desk, "pain-alert-reviewed")
    review = PainReview.objects.get()
    assert (review.outcome, review.by, review.highest_pain) == ("regressed", therapist, 9)
