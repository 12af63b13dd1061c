"""After sign-out the browser holds no patient data for our origin (docs/security.md).

A therapist pages a patient's sets (the htmx pager pushes each page's URL into the history) and
signs out. htmx keeps no copy of the page (`historyCacheSize: 0`), and the sign-out answer's
`Clear-Site-Data: "storage"` empties what else the origin stored: the test leaves the patient's
name in `localStorage`, `sessionStorage` and the Cache API before signing out, as a script of ours
might, and finds all three empty afterwards.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from exercises import services
from tests.browser.conftest import sign_in
from tests.factories import SetLogFactory, stage

pytestmark = pytest.mark.django_db(transaction=True)

# Everything the origin's storage holds, as text: both web storages and every Cache API entry.
DUMP_STORAGE = """async () => {
  const entries = async (store) => Object.fromEntries(
    Array.from({length: store.length}, (_, i) => [store.key(i), store.getItem(store.key(i))]));
  const cached = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      cached[name + " " + request.url] = await (await cache.match(request)).text();
    }
  }
  return {local: await entries(localStorage), session: await entries(sessionStorage), cached};
}"""

# What a script of ours might have left behind: the page's text in each kind of storage.
LEAVE_PATIENT_DATA = """async (text) => {
  localStorage.setItem("left-behind", text);
  sessionStorage.setItem("left-behind", text);
  const cache = await caches.open("left-behind");
  await cache.put("/left-behind", new Response(text));
}"""


def storage(page: Page) -> dict[str, Any]:
    return page.evaluate(DUMP_STORAGE)


@pytest.fixture
def patient_with_sets(patient, therapist):
    """Maya, with more sets than one page of the patient page's pager holds."""
    started = timezone.now() - dt.timedelta(days=20)
    rx = services.prescription_start(
        patient=patient, side="left", stage=stage(2), by=therapist, at=started
    )
    for day in range(30):
        SetLogFactory(
            prescription=rx,
            reps=8 + day % 10,
            pain=day % 4,
            performed_at=started + dt.timedelta(days=day % 19, hours=1),
            logged_by=patient.user,
        )
    return patient


def test_signing_out_leaves_no_patient_data_in_the_browser(
    reseed_after_flush, live_server, open_context, shoot, therapist, patient_with_sets
):
    patient = patient_with_sets
    phi = [patient.first_name, patient.last_name, patient.record_number, "maya"]
    page = open_context().new_page()
    sign_in(page, live_server.url, "thera")
    expect(page).to_have_url(re.compile(r"/dashboard/"))

    # Page the sets with the htmx pager: each click pushes its URL into the history.
    page.get_by_role("link", name="Maya Lindqvist", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Maya")
    page.locator("#logs").get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    page.locator("#logs").get_by_role("link", name="← Newer").click()
    expect(page).to_have_url(re.compile(r"page=1"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#logs").get_by_role("link", name="← Newer")).to_be_visible()
    shoot(page, "patient-sets-paged")

    # htmx kept no copy of the page, even before signing out: only the path it is at.
    paged = storage(page)
    assert "htmx-history-cache" not in paged["session"]
    assert not [word for word in phi if word.lower() in str(paged).lower()], paged

    page.evaluate(LEAVE_PATIENT_DATA, page.locator("main").inner_text())
    held = storage(page)
    assert all(patient.last_name in str(held[kind]) for kind in ("local", "session", "cached"))

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title(re.compile("Sign in"))
    shoot(page, "signed-out")

    left = storage(page)
    # All gone; the sign-in page's htmx then notes where it is, and nothing else.
    assert left["session"].pop("htmx-current-path-for-history", None) in (None, "/accounts/login/")
    assert left == {"local": {}, "session": {}, "cached": {}}, left
    assert not [word for word in phi if word.lower() in str(left).lower()]
    assert patient.last_name not in page.content()
