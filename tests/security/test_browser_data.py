"""A browser keeps no patient data: pages and exports are `no-store`, htmx keeps no history copy,
and the answer that ends a session clears the origin's storage (`clinic/serving/browser_data.py`).

The browser side (Chromium really emptying its storage) is `tests/browser/test_browser_data.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from clinic.serving.middleware import LAST_SEEN
from exercises.services import prescription_start
from tests.factories import PASSWORD, SetLogFactory, stage

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def scene(patient, therapist):
    """A patient with a prescription and a set: every page and download has rows to show."""
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=10),
    )
    SetLogFactory(prescription=rx, logged_by=therapist)
    return patient


HTMX_SETS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "logs"}

# Every page that shows patient data: (URL name, needs the patient's id, who reads it, headers).
PAGES = {
    "patient-detail": (True, "therapist", {}),
    "patient-detail (htmx sets partial)": (True, "therapist", HTMX_SETS),
    "patient-history": (True, "therapist", {}),
    "patient-report": (True, "therapist", {}),
    "patient-create": (False, "therapist", {}),
    "patient-edit": (True, "therapist", {}),
    "patient-login": (True, "therapist", {}),
    "dashboard": (False, "therapist", {}),
    "reports": (False, "staff", {}),
    "access-log": (False, "staff", {}),
    "me": (False, "the patient", {}),
}
# The reports whose tables download as CSV: every table each offers is checked.
CSV_REPORTS = {"patient-report": True, "reports": False}


def url_of(name: str, patient) -> tuple[str, bool]:
    """The URL behind a PAGES key (whose name may carry a note in brackets)."""
    name = name.split(" ")[0]
    needs_id = PAGES.get(name, (CSV_REPORTS.get(name),))[0]
    return reverse(name, args=[patient.pk] if needs_id else []), bool(needs_id)


def sign_in_as(request, client, who: str, patient) -> None:
    client.force_login(patient.user if who == "the patient" else request.getfixturevalue(who))


def assert_no_store(response) -> None:
    assert "no-store" in response.get("Cache-Control", ""), response.get("Cache-Control")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_with_patient_data_is_no_store(request, client, scene, name):
    _, who, headers = PAGES[name]
    sign_in_as(request, client, who, scene)
    url, _ = url_of(name, scene)

    response = client.get(url, **headers)

    assert response.status_code == 200
    assert_no_store(response)


def table_names(client, url: str) -> list[str]:
    """The tables a report offers, as its answer to an unknown table lists them."""
    refused = client.get(url + "?format=csv&table=nonsense")
    assert refused.status_code == 400
    names = re.search(r"\((.+)\)", refused.content.decode())
    assert names is not None
    return names.group(1).split(", ")


@pytest.mark.parametrize("name", CSV_REPORTS)
def test_every_csv_export_is_no_store(client, scene, staff, name):
    client.force_login(staff)
    url, _ = url_of(name, scene)
    tables = table_names(client, url)
    assert len(tables) >= 3

    for table in tables:
        response = client.get(f"{url}?format=csv&table={table}")
        assert response.status_code == 200, table
        assert response["Content-Type"].startswith("text/csv"), table
        assert_no_store(response)


@pytest.mark.parametrize("name", [n for n, (needs_id, _, _) in PAGES.items() if needs_id])
def test_an_outsider_is_still_refused(client, scene, outsider, name):
    _, _, headers = PAGES[name]
    client.force_login(outsider)
    url, _ = url_of(name, scene)
    assert client.get(url, **headers).status_code == 404
    assert client.get(url + "?format=csv&table=sets").status_code == 404


@pytest.mark.parametrize("name", ["patient-detail", "dashboard", "me", "access-log"])
def test_anonymous_users_are_still_sent_to_sign_in(client, scene, name):
    url, _ = url_of(name, scene)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sign_in_page_and_static_files_keep_their_caching(client, db):
    # Django's own sign-in page is never cached (its `never_cache`); nothing here changes it.
    response = client.get(reverse("login"))
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "Clear-Site-Data" not in response
    # Static files are answered before any middleware of ours (whitenoise, test_serve.py).
    assert finders.find("css/app.css")


def test_json_answers_are_left_to_the_api(client, patient):
    client.force_login(patient.user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert "Cache-Control" not in response


def test_htmx_keeps_no_history_copy_of_any_page(client, scene, therapist):
    """htmx's history cache is off for every page (base.html), so a pager or filter with
    `hx-push-url` never leaves a copy of the page in `sessionStorage`."""
    client.force_login(therapist)
    page = client.get(reverse("patient-detail", args=[scene.pk])).content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert config is not None
    assert json.loads(config.group(1))["historyCacheSize"] == 0
    # Every template that pushes a URL into the history is a page built on base.html.
    pushing = [p for p in TEMPLATES.rglob("*.html") if "hx-push-url=" in p.read_text()]
    assert {p.name for p in pushing} >= {"patient_detail.html", "dashboard.html"}
    for path in pushing:
        assert path.read_text().startswith('{% extends "base.html" %}'), path


# -- the answer that ends a session clears the origin's storage -----------------------------------


def test_signing_out_clears_the_sites_storage(client, therapist):
    client.force_login(therapist)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"storage"'
    assert "_auth_user_id" not in client.session


def test_the_admins_sign_out_clears_it_too(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:logout"))
    assert response.status_code in (200, 302)
    assert response["Clear-Site-Data"] == '"storage"'


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_expired_session_clears_it_on_its_next_request(client, therapist, htmx):
    client.force_login(therapist)
    assert client.get(reverse("dashboard")).status_code == 200  # stamps the session
    session = client.session
    session[LAST_SEEN] -= 31 * 60
    session.save()

    response = client.get(reverse("dashboard"), **({"HTTP_HX_REQUEST": "true"} if htmx else {}))

    assert response.status_code == 200 if htmx else 302
    assert response["Clear-Site-Data"] == '"storage"'


def test_other_answers_do_not_clear_it(client, therapist):
    # Signing in, and any page while signed in, leave the browser's storage alone.
    response = client.post(reverse("login"), {"username": therapist.username, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert "Clear-Site-Data" not in response
    assert "Clear-Site-Data" not in client.get(reverse("dashboard"))
    assert "Clear-Site-Data" not in client.post(reverse("logout"), follow=True).redirect_chain[-1]
