"""Where the audit trail is read: a patient's history page (changes, views and exports in one
list) and the clinic's access log at /audit/ (every view and export, clinic-wide ones included).

The cast: the patient's therapist, staff of the clinic, an outsider (a therapist of another clinic),
the patient themselves and anonymous users.
"""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.audit.changes import patient_audit
from clinic.audit.history import history_context
from clinic.forms import display_name
from exercises.services import prescription_start, set_void
from patients.access_events import record_access
from patients.models import AccessAction, AccessEvent
from patients.services import patient_login_set_active
from tests.factories import SetLogFactory, UserFactory, stage


def history(patient, query=""):
    return reverse("patient-history", args=[patient.pk]) + query


def start(patient, by, days_ago=10):
    return prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=by,
        at=timezone.now() - dt.timedelta(days=days_ago),
    )


def add_sets(rx, count):
    return [
        SetLogFactory(
            prescription=rx,
            logged_by=rx.prescribed_by,
            performed_at=timezone.now() - dt.timedelta(hours=i + 1),
        )
        for i in range(count)
    ]


def viewed(patient, user, action=AccessAction.PATIENT_PAGE, *, at=None, detail=""):
    event = record_access(user=user, action=action, patient=patient, detail=detail)
    if at is not None:
        AccessEvent.objects.filter(pk=event.pk).update(at=at)
    return event


def entries(page):
    """(kind, text) of each entry of the history list, in the order shown."""
    found = re.findall(r'<li class="audit-entry( access)?">(.*?)</li>', page, flags=re.S)
    return [("access" if access else "change", re.sub(r"\s+", " ", body)) for access, body in found]


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# -- the patient's history page ------------------------------------------------------------------


def test_the_history_lists_views_and_changes_newest_first(client, therapist, staff, patient):
    staff.first_name, staff.last_name = "Sam", "Reviewer"
    staff.save()
    viewed(patient, staff, at=timezone.now() - dt.timedelta(days=20))  # before every change
    rx = start(patient, therapist)
    [logged] = add_sets(rx, 1)
    viewed(patient, staff, AccessAction.FHIR_EXPORT)
    set_void(set_log=logged, by=therapist, reason="Wrong side")  # the newest
    client.force_login(therapist)

    page = client.get(history(patient)).content.decode()

    shown = entries(page)
    kinds = [kind for kind, _ in shown]
    # The void, the export, the set, the prescription's rows, the patient, then the old view.
    assert kinds[:3] == ["change", "access", "change"]
    assert kinds[-1] == "access"
    export, old_view = shown[1][1], shown[-1][1]
    assert "Sam Reviewer" in export and "Exported" in export
    assert "Whole record as a FHIR bundle" in export
    assert "Viewed" in old_view and "Patient page" in old_view
    # The changes keep their before → after.
    assert re.search(
        r"Void reason</th><td class=\"before\"><del>—</del></td>"
        r"<td class=\"after\"><ins>Wrong side</ins>",
        shown[0][1],
    )
    assert re.search(r"(\d+) entries", page)[1] == str(len(shown))


def test_the_history_page_does_not_list_the_view_that_shows_it(client, therapist, patient):
    client.force_login(therapist)
    first = client.get(history(patient)).content.decode()
    assert [kind for kind, _ in entries(first)] == ["change"]  # the patient's creation
    second = client.get(history(patient)).content.decode()
    assert "Audit history" in entries(second)[0][1]  # the first visit, now recorded


def test_times_are_in_the_clinics_zone(client, therapist, patient):
    # 30 June 2026 23:30 UTC is 1 July 00:30 in London (BST).
    viewed(patient, therapist, at=dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC))
    client.force_login(therapist)
    page = client.get(history(patient, "?show=views")).content.decode()
    assert "1 Jul 2026 00:30" in page


def test_the_history_can_show_views_only_or_changes_only(client, therapist, patient):
    add_sets(start(patient, therapist), 2)
    viewed(patient, therapist, AccessAction.PATIENT_REPORT, detail="2026-01-01 to 2026-01-31")
    client.force_login(therapist)

    views = client.get(history(patient, "?show=views")).content.decode()
    assert [kind for kind, _ in entries(views)] == ["access"]
    assert "Progression report" in views and "2026-01-01 to 2026-01-31" in views
    assert '<option value="views" selected>' in views

    changes = client.get(history(patient, "?show=changes")).content.decode()
    assert {kind for kind, _ in entries(changes)} == {"change"}
    assert len(entries(changes)) == 5  # patient, prescription, stage change, 2 sets

    sets_only = client.get(history(patient, "?show=sets")).content.decode()
    assert len(entries(sets_only)) == 2


def test_an_unknown_filter_shows_everything(client, therapist, patient):
    viewed(patient, therapist)
    client.force_login(therapist)
    page = client.get(history(patient, "?show=<script>")).content.decode()
    assert [kind for kind, _ in entries(page)] == ["access", "change"]
    assert "<script>" not in page.split("<main", 1)[1]


def test_a_deleted_account_is_still_named_by_its_username(client, therapist, patient):
    locum = UserFactory(username="locum.lee", first_name="Lee", last_name="Locum")
    viewed(patient, locum)
    locum.delete()
    client.force_login(therapist)
    page = client.get(history(patient, "?show=views")).content.decode()
    assert '<span class="who">locum.lee</span>' in page


def test_pages_of_the_merged_history_follow_one_another(therapist, patient):
    """Page n fetches only the newest n × 50 events; the pages must still meet without a gap."""
    rx = start(patient, therapist, days_ago=200)
    add_sets(rx, 30)  # with the patient, prescription and stage change: 33 changes
    for i in range(90):  # older and newer than the changes
        viewed(patient, therapist, at=timezone.now() + dt.timedelta(minutes=i - 45))
    tz = patient.clinic.tzinfo

    shown = []
    for number in (1, 2, 3):
        context = history_context(patient, tz, show="", page=str(number), per_page=50)
        shown += [(e.kind, e.at) for e in context["page"]]

    assert context["total"] == len(shown) == 33 + 90
    everything = [("change", e.at) for e in patient_audit(patient, tz)] + [
        ("access", e.at) for e in AccessEvent.objects.filter(patient=patient)
    ]
    assert sorted(shown, key=lambda e: e[1]) == sorted(everything, key=lambda e: e[1])
    assert [at for _, at in shown] == sorted((at for _, at in shown), reverse=True)


def test_the_history_page_links_its_pages(client, therapist, patient):
    for _ in range(60):
        viewed(patient, therapist)
    client.force_login(therapist)
    page = client.get(history(patient, "?show=views&page=2")).content.decode()
    assert "Page 2 of 2" in page and 'href="?show=views&amp;page=1"' in page
    assert len(entries(page)) == 10


def test_the_history_page_costs_the_same_queries_for_a_short_or_long_trail(
    client, therapist, colleague, patient, other_patient
):
    for p, n in ((patient, 3), (other_patient, 40)):
        rx = start(p, therapist)
        for i, logged in enumerate(add_sets(rx, n)):
            set_void(set_log=logged, by=colleague if i % 2 else therapist, reason="test")
        for i in range(n * 3):
            viewed(p, colleague if i % 2 else therapist)
    client.force_login(therapist)
    client.get(reverse("home"))  # the session's first request may write it: not this page's cost
    for query in ("", "?show=views", "?show=changes", "?page=2"):
        few = count_queries(client, history(patient, query))
        many = count_queries(client, history(other_patient, query))
        assert few == many, query
    # 7 for the changes, 2 for the events (a count and one page), 1 insert, plus the session,
    # the user and the patient.
    # One query per history table (six, pain reviews included), the people, the stages, the
    # access events' count and page, and the request's own.
    assert count_queries(client, history(patient)) <= 14


def test_a_login_disabled_and_enabled_shows_who_and_when_among_the_changes(
    client, therapist, staff, patient
):
    patient_login_set_active(patient=patient, active=False, by=therapist)
    patient_login_set_active(patient=patient, active=True, by=therapist)
    viewed(patient, staff)
    client.force_login(staff)

    page = client.get(history(patient)).content.decode()

    shown = [body for _, body in entries(page)]
    assert "Viewed" in shown[0]
    enabled, disabled = shown[1], shown[2]
    assert "Changed" in enabled and "Patient&#x27;s login enabled again" in enabled
    assert "Changed" in disabled and "Patient&#x27;s login disabled" in disabled
    assert f'<span class="who">{display_name(therapist)}</span>' in disabled
    event = AccessEvent.objects.get(action=AccessAction.LOGIN_DISABLED)
    local = event.at.astimezone(patient.clinic.tzinfo)
    assert f"{local:%-d %b %Y %H:%M}" in disabled


@pytest.mark.parametrize(
    "show, logins_shown, views_shown",
    [("", 2, 1), ("changes", 2, 0), ("details", 2, 0), ("views", 0, 1), ("sets", 0, 0)],
)
def test_the_history_files_login_changes_with_the_changes(
    client, therapist, patient, show, logins_shown, views_shown
):
    patient_login_set_active(patient=patient, active=False, by=therapist)
    patient_login_set_active(patient=patient, active=True, by=therapist)
    viewed(patient, therapist)
    client.force_login(therapist)

    shown = [
        body for _, body in entries(client.get(history(patient, f"?show={show}")).content.decode())
    ]

    assert sum("login" in body for body in shown) == logins_shown
    assert sum("Patient page" in body for body in shown) == views_shown


# -- the clinic's access log ---------------------------------------------------------------------


LOG = reverse("access-log")


def log_rows(page):
    return re.findall(r"<tr>\s*<td><time.*?</tr>", page, flags=re.S)


@pytest.mark.parametrize("who", ["therapist", "staff"])
def test_the_care_team_reads_the_clinics_log(request, client, patient, clinic, who):
    user = request.getfixturevalue(who)
    therapist = request.getfixturevalue("therapist")
    viewed(patient, therapist, AccessAction.FHIR_EXPORT)
    record_access(
        user=therapist,
        action=AccessAction.CLINIC_REPORT_CSV,
        clinic=clinic,
        detail="windows, 2026-01-01 to 2026-01-30",
    )
    client.force_login(user)

    page = client.get(LOG).content.decode()

    rows = log_rows(page)
    assert len(rows) == 2
    assert "Downloaded a clinic report table (CSV)" in rows[0] and "whole clinic" in rows[0]
    assert "windows, 2026-01-01 to 2026-01-30" in rows[0]
    assert "Exported the record (FHIR bundle)" in rows[1] and "Maya Lindqvist" in rows[1]
    assert reverse("patient-history", args=[patient.pk]) in rows[1]


def test_the_log_lists_who_disabled_a_patients_login(client, patient, therapist, staff):
    patient_login_set_active(patient=patient, active=False, by=therapist)
    client.force_login(staff)
    [row] = log_rows(client.get(LOG).content.decode())
    assert "Disabled the patient&#x27;s login" in row and "Maya Lindqvist" in row


def test_the_log_shows_no_other_clinics_events(client, patient, therapist, outsider):
    viewed(patient, therapist)
    client.force_login(outsider)
    page = client.get(LOG).content.decode()
    assert "Maya Lindqvist" not in page and not log_rows(page)


def test_another_clinics_log_is_not_found(client, clinic, outsider, patient, therapist):
    viewed(patient, therapist)
    client.force_login(outsider)
    assert client.get(LOG, {"clinic": clinic.pk}).status_code == 404
    assert client.get(LOG, {"clinic": "nonsense"}).status_code == 404
    # Refused: nothing recorded, and the patient's event is still the only one.
    assert AccessEvent.objects.count() == 1


def test_the_patient_is_refused_the_log(client, patient):
    client.force_login(patient.user)
    assert client.get(LOG).status_code == 403
    assert not AccessEvent.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client, clinic):
    response = client.get(LOG)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_log_narrows_to_clinic_wide_downloads_or_patients(client, patient, clinic, staff):
    viewed(patient, staff)
    record_access(user=staff, action=AccessAction.CLINIC_REPORT_CSV, clinic=clinic, detail="x")
    client.force_login(staff)
    wide = log_rows(client.get(LOG, {"scope": "clinic"}).content.decode())
    assert len(wide) == 1 and "whole clinic" in wide[0]
    patients = log_rows(client.get(LOG, {"scope": "patients"}).content.decode())
    # The two visits to the log itself are clinic-wide too, so only the patient's view is here.
    assert len(patients) == 1 and "Maya Lindqvist" in patients[0]


def test_a_bad_scope_is_refused_naming_the_field(client, staff, clinic):
    client.force_login(staff)
    response = client.get(LOG, {"scope": "everything-ever"})
    assert response.status_code == 400
    assert "scope: choose every view and export" in response.content.decode()
    assert not AccessEvent.objects.exists()


def test_the_log_is_paginated_and_costs_the_same_queries_however_long(
    client, staff, therapist, patient, other_patient
):
    for _ in range(3):
        viewed(patient, therapist)
    client.force_login(staff)
    client.get(reverse("home"))
    few = count_queries(client, LOG)
    for i in range(120):
        viewed(other_patient if i % 2 else patient, therapist)
    many = count_queries(client, LOG)
    assert few == many
    page = client.get(LOG).content.decode()
    assert len(log_rows(page)) == 50 and "Page 1 of 3" in page
    last = client.get(LOG, {"page": 3}).content.decode()
    assert "← Newer" in last and "Older" not in last
