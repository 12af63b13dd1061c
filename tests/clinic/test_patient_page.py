"""The patient page (care team), its actions and the patient's audit history.

The cast: the patient's therapist, a colleague (another therapist of the clinic), staff of the clinic
(read-only), an outsider (a therapist of another clinic), the patient themselves and anonymous users.
"""

import datetime as dt
import re
import uuid
import zoneinfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.charts.progression import ChartSet, ChartStep, progression_chart
from exercises.models import Prescription, SetLog, Source, StageChange
from exercises.services import (
    SetLogRequest,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.models import ClearanceNote
from tests.factories import SetLogFactory, record_clearance, stage

NOW = timezone.now()
TODAY = timezone.localdate()


def start(patient, by, *, side="left", number=1, days_ago=20):
    return prescription_start(
        patient=patient,
        side=side,
        stage=stage(number),
        by=by,
        at=timezone.now() - dt.timedelta(days=days_ago),
    )


def add_sets(prescription, count, **fields):
    """`count` valid sets on the prescription, one an hour, the newest an hour ago."""
    return [
        SetLogFactory(
            prescription=prescription,
            logged_by=prescription.prescribed_by,
            performed_at=timezone.now() - dt.timedelta(hours=i + 1),
            **fields,
        )
        for i in range(count)
    ]


def detail(patient):
    return reverse("patient-detail", args=[patient.pk])


def text(response):
    return response.content.decode()


# -- each section renders with its data -----------------------------------------------------------


def test_each_side_shows_its_stage_content_mvic_and_dose(client, therapist, patient):
    start(patient, therapist, number=2)
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert "Reverse clamshell" in page
    assert stage(2).position[:40] in page
    assert stage(2).movement[:40] in page
    assert stage(2).cues[:40] in page
    assert "62 %MVIC" in page and "Very high (&gt;60 %MVIC)" in page
    assert "3 sets × 10 reps, 1 s hold at the top" in page
    assert "No prescription on the right side (not the affected side)." in page


def test_a_ready_side_says_so_and_offers_the_next_stage_first(client, therapist, patient):
    rx = start(patient, therapist, number=1)
    add_sets(rx, 1, reps=21, pain=2)
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert "Ready to progress" in page
    assert "ready for stage 2" in page
    assert 'class="primary">Advance to stage 2' in page


def test_a_paused_side_says_so_with_the_reason(client, therapist, patient_requiring_clearance):
    patient = patient_requiring_clearance
    record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY - dt.timedelta(days=40),
        review_on=TODAY - dt.timedelta(days=5),
    )
    start(patient, therapist, days_ago=30)
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert "Paused:" in page
    assert "lapsed after its review date" in page
    assert "In effect · lapsed" in page


def test_the_logs_are_newest_first_and_paginated(client, therapist, patient):
    rx = start(patient, therapist)
    sets = add_sets(rx, 25)
    client.force_login(therapist)
    first = text(client.get(detail(patient)))
    assert "25 sets, newest first" in first
    assert "Page 1 of 2" in first
    rows = re.findall(r'<tr id="set-(\d+)"', first)
    assert [int(r) for r in rows] == [s.pk for s in sets[:20]]
    second = text(client.get(detail(patient) + "?page=2"))
    assert [int(r) for r in re.findall(r'<tr id="set-(\d+)"', second)] == [s.pk for s in sets[20:]]


def test_paging_the_logs_with_htmx_swaps_only_that_section(client, therapist, patient):
    rx = start(patient, therapist)
    add_sets(rx, 25)
    client.force_login(therapist)
    response = client.get(
        detail(patient) + "?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="logs"
    )
    page = text(response)
    assert "<html" not in page
    assert "Page 2 of 2" in page
    assert len(re.findall(r'<tr id="set-', page)) == 5


def test_a_voided_set_is_struck_through_with_its_reason(client, therapist, patient):
    rx = start(patient, therapist)
    [kept, voided] = add_sets(rx, 2)
    set_void(set_log=voided, by=therapist, reason="Logged twice by mistake")
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert f'<tr id="set-{voided.pk}" class="voided">' in page
    assert f'<tr id="set-{kept.pk}" class="">' in page
    assert "Logged twice by mistake" in page


def test_times_are_shown_in_the_clinics_time_zone(client, therapist, patient):
    rx = start(patient, therapist)
    # 23:30 UTC on a summer day is 00:30 the next day in London.
    performed = timezone.now().replace(month=7, day=1, hour=23, minute=30) - dt.timedelta(days=366)
    SetLogFactory(prescription=rx, logged_by=therapist, performed_at=performed)
    client.force_login(therapist)
    local = performed.astimezone(zoneinfo.ZoneInfo("Europe/London"))
    assert f"{local:%-d %b %Y %H:%M}" in text(client.get(detail(patient)))
    assert local.hour == 0


def test_the_stage_history_says_who_and_system_for_automatic_steps(client, therapist, patient):
    rx = start(patient, therapist)
    prescription_advance(prescription=rx, by=None, note="Advanced automatically: ready.")
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    history = page[page.index('id="stage-history"') :]
    assert "stage 1 → stage 2" in history
    assert "Progressed" in history and "system" in history
    assert "— → stage 1" in history and "Started" in history


def test_the_clearance_notes_are_newest_first_and_the_one_in_effect_is_marked(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    older = record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY - dt.timedelta(days=60),
        review_on=TODAY + dt.timedelta(days=30),
        max_stage=2,
    )
    newer = record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY - dt.timedelta(days=3),
        review_on=TODAY + dt.timedelta(days=90),
    )
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    notes = page[page.index('<ol class="notes">') :]
    assert notes.index(f"{newer.signed_on:%-d %b %Y}") < notes.index(f"{older.signed_on:%-d %b %Y}")
    assert notes.index("In effect") < notes.index("Superseded")
    assert "Cleared until" in page


def test_empty_states_say_what_to_do_next(client, therapist, patient):
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert "No sets logged yet — log one in clinic below" in page
    assert "No stage changes yet — start a prescription on a side above" in page
    assert "No prescription on the left side. Start one below." in page
    assert "Start a prescription on a side first" in page
    assert "<title>Maya Lindqvist · Clamshell clinic</title>" in page


def test_the_audit_history_lists_every_change_with_before_and_after(client, therapist, patient):
    rx = start(patient, therapist)
    [logged] = add_sets(rx, 1, reps=12)
    set_void(set_log=logged, by=therapist, reason="Wrong side")
    client.force_login(therapist)
    response = client.get(reverse("patient-history", args=[patient.pk]))
    page = text(response)
    assert response.status_code == 200
    entries = page.split('<li class="audit-entry">')[1:]
    # Newest first: the void, then the set, then the stage change and the prescription.
    voided, created = entries[0], entries[1]
    assert "Changed" in voided and "Set: Left side, 12 reps" in voided
    assert re.search(
        r"Void reason</th><td class=\"before\"><del>—</del></td>"
        r"<td class=\"after\"><ins>Wrong side</ins>",
        voided,
    )
    assert "Created" in created and "Set: Left side, 12 reps" in created
    assert "Pain" in created and "Performed at" in created
    subjects = [re.search(r'<span class="subject">(.*?)</span>', e)[1] for e in entries]
    assert subjects[2:4] == [
        "Stage change: Left side, Started",
        "Prescription: Left side, stage 1: Clamshell",
    ]


def test_the_audit_history_names_the_system_for_automatic_changes(client, therapist, patient):
    rx = start(patient, therapist)
    prescription_advance(prescription=rx, by=None)
    client.force_login(therapist)
    page = text(client.get(reverse("patient-history", args=[patient.pk])))
    assert re.search(r'<span class="who">system</span>\s*<span class="action created">', page)


def test_the_audit_history_can_be_narrowed_to_one_kind_of_record(client, therapist, patient):
    add_sets(start(patient, therapist), 3)
    client.force_login(therapist)
    url = reverse("patient-history", args=[patient.pk])
    page = text(client.get(url + "?show=stages"))
    subjects = re.findall(r'<span class="subject">(.*?)</span>', page)
    assert subjects == ["Stage change: Left side, Started"]
    assert '<option value="stages" selected>' in page
    everything = text(client.get(url + "?show=nonsense"))
    assert (
        len(re.findall(r'<span class="subject">', everything)) == 6
    )  # patient, rx, change, 3 sets


# -- actions --------------------------------------------------------------------------------------


def start_payload(side="right", number=1, **extra):
    data = {
        f"start-{side}-stage": stage(number).pk,
        f"start-{side}-target_sets": 3,
        f"start-{side}-target_reps": 12,
        f"start-{side}-hold_at_top_seconds": 2,
        f"start-{side}-sessions_per_week": 4,
    }
    return data | {f"start-{side}-{k}": v for k, v in extra.items()}


def test_a_therapist_starts_a_side(client, therapist, patient):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "right"]),
        start_payload(notes="Slowly"),
    )
    assert response.status_code == 302
    assert response["Location"] == detail(patient) + "#side-right"
    rx = Prescription.objects.get(patient=patient, side="right")
    assert (rx.stage.number, rx.target_reps, rx.sessions_per_week, rx.notes) == (1, 12, 4, "Slowly")
    assert rx.prescribed_by == therapist
    page = text(client.get(response["Location"]))
    assert "Right side started at stage 1: Clamshell." in page


def test_starting_a_gated_patient_shows_the_gate_and_writes_nothing(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "left"]),
        start_payload(side="left", target_reps=14),
    )
    page = text(response)
    assert response.status_code == 200
    assert "needs medical clearance (pelvic fracture) before stage 1" in page
    assert "no clearance note signed on or before" in page
    # No form that could only be refused again: the card says why no stage can start.
    assert 'name="start-left-target_reps"' not in page
    assert "No stage can start yet:" in page
    assert not Prescription.objects.filter(patient=patient).exists()
    assert not StageChange.objects.filter(patient=patient).exists()


def test_a_pain_ceiling_above_the_clinics_alert_is_refused_next_to_the_field(
    client, therapist, patient
):
    """The clinic alerts above 5: a side asking for a readiness ceiling of 6 is refused where
    the therapist typed it, and nothing is written."""
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "right"]),
        start_payload(pain_ceiling=6),
    )
    assert response.status_code == 200
    form = next(s.start_form for s in response.context["sides"] if s.plan.side == "right")
    assert "cannot be above the pain alert threshold (5)" in form.errors["pain_ceiling"][0]
    assert not Prescription.objects.filter(patient=patient).exists()


def test_a_recorded_clearance_lets_the_gated_patient_start(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    record_clearance(
        patient, by=therapist, signed_on=TODAY, review_on=TODAY + dt.timedelta(days=60)
    )
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "left"]),
        start_payload(side="left"),
    )
    assert response.status_code == 302
    assert Prescription.objects.active().filter(patient=patient).count() == 1


def test_starting_a_side_that_already_has_a_prescription_is_refused(client, therapist, patient):
    start(patient, therapist, side="right")
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "right"]), start_payload()
    )
    assert response.status_code == 200
    assert "already has an active prescription" in text(response)
    assert Prescription.objects.filter(patient=patient).count() == 1


def test_an_unknown_side_is_not_found(client, therapist, patient):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "middle"]), start_payload()
    )
    assert response.status_code == 404


def test_a_therapist_advances_a_side_with_a_note(client, therapist, patient):
    rx = start(patient, therapist)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-advance", args=[patient.pk, rx.pk]),
        {"change-left-note": "20 reps, no pain"},
        follow=True,
    )
    assert "Left side advanced to stage 2: Reverse clamshell." in text(response)
    current = Prescription.objects.active().get(patient=patient, side="left")
    assert current.stage.number == 2
    change = StageChange.objects.get(patient=patient, reason="progressed")
    assert (change.by, change.note) == (therapist, "20 reps, no pain")


def test_advancing_at_the_top_of_the_ladder_is_refused_on_the_page(client, therapist, patient):
    rx = start(patient, therapist, number=4)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-advance", args=[patient.pk, rx.pk]),
        {"change-left-note": "keep going"},
    )
    page = text(response)
    assert response.status_code == 200
    assert "Stage 4 is the top of the ladder: the ladder is complete." in page
    assert "keep going</textarea>" in page
    assert Prescription.objects.active().get(patient=patient).stage.number == 4


def test_advancing_past_what_the_clearance_allows_shows_the_gate(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY - dt.timedelta(days=25),
        review_on=TODAY + dt.timedelta(days=60),
        max_stage=1,
    )
    rx = start(patient, therapist)
    client.force_login(therapist)
    response = client.post(reverse("patient-prescription-advance", args=[patient.pk, rx.pk]))
    assert "allows up to stage 1, not stage 2" in text(response)
    assert Prescription.objects.active().get(patient=patient).stage.number == 1


def test_a_therapist_regresses_a_side(client, therapist, patient):
    rx = start(patient, therapist, number=3)
    client.force_login(therapist)
    response = client.post(reverse("patient-prescription-regress", args=[patient.pk, rx.pk]))
    assert response.status_code == 302
    assert Prescription.objects.active().get(patient=patient).stage.number == 2


def test_regressing_the_first_stage_is_refused_on_the_page(client, therapist, patient):
    rx = start(patient, therapist, number=1)
    client.force_login(therapist)
    response = client.post(reverse("patient-prescription-regress", args=[patient.pk, rx.pk]))
    assert "Stage 1 is the first stage; there is nothing to regress to." in text(response)


def test_a_therapist_stops_a_side(client, therapist, patient):
    rx = start(patient, therapist, number=2)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-stop", args=[patient.pk, rx.pk]), follow=True
    )
    assert "Left side stopped at stage 2: Reverse clamshell. Start a new prescription" in text(
        response
    )
    assert not Prescription.objects.active().filter(patient=patient).exists()
    assert StageChange.objects.filter(patient=patient, reason="stopped").count() == 1


def test_changing_an_ended_prescription_says_so_on_its_side(client, therapist, patient):
    rx = start(patient, therapist, number=2)
    client.force_login(therapist)
    client.post(reverse("patient-prescription-stop", args=[patient.pk, rx.pk]))
    response = client.post(reverse("patient-prescription-advance", args=[patient.pk, rx.pk]))
    assert "This prescription has already ended" in text(response)


def test_another_patients_prescription_is_not_found(client, therapist, patient, other_patient):
    rx = start(other_patient, therapist)
    client.force_login(therapist)
    response = client.post(reverse("patient-prescription-advance", args=[patient.pk, rx.pk]))
    assert response.status_code == 404
    assert Prescription.objects.active().get(pk=rx.pk).stage.number == 1


def log_payload(rx, client_id=None, **extra):
    performed = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo("Europe/London"))
    data = {
        "log-prescription": rx.pk,
        "log-reps": 15,
        "log-pain": 2,
        "log-effort": 6,
        "log-performed_at": performed.strftime("%Y-%m-%dT%H:%M:%S"),
        "log-note": "",
        "log-client_id": str(client_id or uuid.uuid4()),
    }
    return data | {f"log-{k}": v for k, v in extra.items()}


def test_a_therapist_logs_a_set_in_clinic_on_the_patients_behalf(client, therapist, patient):
    rx = start(patient, therapist)
    client.force_login(therapist)
    response = client.post(reverse("patient-set-log", args=[patient.pk]), log_payload(rx))
    assert response["Location"] == detail(patient) + "#logs"
    logged = SetLog.objects.get(patient=patient)
    assert (logged.reps, logged.pain, logged.effort) == (15, 2, 6)
    assert (logged.source, logged.logged_by) == (Source.CLINIC, therapist)
    assert "Set saved: 15 reps, pain 2/10, left side at stage 1." in text(
        client.get(response["Location"])
    )


def test_the_log_form_carries_a_fresh_client_id(client, therapist, patient):
    start(patient, therapist)
    client.force_login(therapist)
    ids = [
        re.search(r'name="log-client_id" value="([0-9a-f-]+)"', text(client.get(detail(patient))))[
            1
        ]
        for _ in range(2)
    ]
    assert ids[0] != ids[1]
    assert all(uuid.UUID(i) for i in ids)


def test_a_set_logged_right_after_a_start_with_the_forms_defaults_is_accepted(
    client, therapist, patient
):
    client.force_login(therapist)
    client.post(
        reverse("patient-prescription-start", args=[patient.pk, "left"]), start_payload("left")
    )
    page = text(client.get(detail(patient)))
    defaults = dict(
        re.findall(r'name="(log-(?:performed_at|client_id))"[^>]*value="([^"]+)"', page)
    )
    assert set(defaults) == {"log-performed_at", "log-client_id"}
    rx = Prescription.objects.active().get(patient=patient)
    payload = log_payload(rx) | defaults
    response = client.post(reverse("patient-set-log", args=[patient.pk]), payload)
    assert response.status_code == 302, text(response)
    assert SetLog.objects.get().performed_at >= rx.started_at
    row = SetLog.objects.get()
    assert (row.prescription, row.source, row.logged_by) == (rx, Source.CLINIC, therapist)
    assert str(row.client_id) == defaults["log-client_id"]
    shown = timezone.localtime(row.performed_at, zoneinfo.ZoneInfo("Europe/London"))
    assert shown.strftime("%Y-%m-%dT%H:%M:%S") == defaults["log-performed_at"]


def test_submitting_the_same_log_form_twice_stores_one_set(client, therapist, patient):
    rx = start(patient, therapist)
    client.force_login(therapist)
    payload = log_payload(rx)
    first = client.post(reverse("patient-set-log", args=[patient.pk]), payload)
    second = client.post(reverse("patient-set-log", args=[patient.pk]), payload, follow=True)
    assert first.status_code == 302
    assert "This set was already saved; nothing new was stored." in text(second)
    assert SetLog.objects.filter(patient=patient).count() == 1


def test_a_bad_log_shows_the_field_error_and_keeps_the_input(client, therapist, patient):
    rx = start(patient, therapist)
    client.force_login(therapist)
    payload = log_payload(rx, reps=0, note="felt fine")
    response = client.post(reverse("patient-set-log", args=[patient.pk]), payload)
    page = text(response)
    assert response.status_code == 200
    assert 'id="id_log-reps_error"' in page
    assert "Ensure this value is greater than or equal to 1." in page
    assert 'value="felt fine"' in page
    assert payload["log-client_id"] in page  # a corrected resubmission keeps the same key
    assert not SetLog.objects.exists()


def test_logging_on_a_paused_side_shows_why(client, therapist, patient_requiring_clearance):
    patient = patient_requiring_clearance
    record_clearance(
        patient,
        by=therapist,
        signed_on=TODAY - dt.timedelta(days=40),
        review_on=TODAY - dt.timedelta(days=5),
    )
    rx = start(patient, therapist, days_ago=30)
    client.force_login(therapist)
    response = client.post(reverse("patient-set-log", args=[patient.pk]), log_payload(rx))
    assert "paused until your medical clearance is up to date" in text(response)
    assert not SetLog.objects.exists()


def test_voiding_a_set_needs_a_reason(client, therapist, patient):
    rx = start(patient, therapist)
    [target] = add_sets(rx, 1)
    client.force_login(therapist)
    url = reverse("patient-set-void", args=[patient.pk, target.pk])
    response = client.post(url, {"reason": "  "})
    assert response.status_code == 200
    assert "Say why the set is voided." in text(response)
    target.refresh_from_db()
    assert not target.is_voided


def test_a_therapist_voids_a_set_with_a_reason(client, therapist, patient):
    rx = start(patient, therapist)
    [target] = add_sets(rx, 1)
    client.force_login(therapist)
    url = reverse("patient-set-void", args=[patient.pk, target.pk]) + "?page=1"
    response = client.post(url, {"reason": "Counted the warm-up"})
    assert response["Location"] == detail(patient) + "?page=1#logs"
    target.refresh_from_db()
    assert (target.void_reason, target.voided_by) == ("Counted the warm-up", therapist)


def test_another_patients_set_cannot_be_voided_here(client, therapist, patient, other_patient):
    [target] = add_sets(start(other_patient, therapist), 1)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-set-void", args=[patient.pk, target.pk]), {"reason": "x"}
    )
    assert response.status_code == 404
    target.refresh_from_db()
    assert not target.is_voided


def clearance_payload(**extra):
    data = {
        "decision": "restricted",
        "reason": "Pelvic fracture, healing well",
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD, orthopaedics",
        "signed_on": f"{TODAY - dt.timedelta(days=1):%Y-%m-%d}",
        "review_on": f"{TODAY + dt.timedelta(days=60):%Y-%m-%d}",
        "weight_bearing": "as_tolerated",
        "max_stage": "2",
        "restrictions": "",
    } | extra
    return {f"clearance-{k}": v for k, v in data.items()}


def test_the_clearance_form_records_a_note(client, therapist, patient_requiring_clearance):
    patient = patient_requiring_clearance
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[patient.pk]), clearance_payload(), follow=True
    )
    note = ClearanceNote.objects.get(patient=patient)
    assert (note.decision, note.max_stage, note.recorded_by) == ("restricted", 2, therapist)
    page = text(response)
    assert "Clearance note recorded. Cleared up to stage 2 until" in page
    assert "In effect" in page


def test_a_review_date_before_the_signing_date_is_refused_next_to_the_field(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[patient.pk]),
        clearance_payload(review_on=f"{TODAY - dt.timedelta(days=5):%Y-%m-%d}"),
    )
    page = text(response)
    assert re.search(
        r'<ul class="errorlist" id="id_clearance-review_on_error"><li>The review date cannot be '
        r"before the date signed.</li>",
        page,
    )
    assert 'value="Dr. Ada Osei"' in page
    assert not ClearanceNote.objects.exists()


def test_the_services_own_rules_are_shown_on_the_clearance_form(
    client, therapist, patient_requiring_clearance
):
    patient = patient_requiring_clearance
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[patient.pk]),
        clearance_payload(max_stage="", weight_bearing="not_stated"),
    )
    assert "A clearance with restrictions must say what they are." in text(response)
    assert not ClearanceNote.objects.exists()


# -- roles at the door ----------------------------------------------------------------------------


@pytest.fixture
def scene(therapist, patient):
    """The patient with the left side at stage 2 and one set: every action has something to act on."""
    rx = start(patient, therapist, number=2)
    [logged] = add_sets(rx, 1)
    return {"patient": patient, "rx": rx, "set": logged}


def page_urls(scene):
    pk = scene["patient"].pk
    return [reverse("patient-detail", args=[pk]), reverse("patient-history", args=[pk])]


def actions(scene):
    pk, rx, logged = scene["patient"].pk, scene["rx"], scene["set"]
    return [
        (reverse("patient-prescription-start", args=[pk, "right"]), start_payload()),
        (reverse("patient-prescription-advance", args=[pk, rx.pk]), {}),
        (reverse("patient-prescription-regress", args=[pk, rx.pk]), {}),
        (reverse("patient-prescription-stop", args=[pk, rx.pk]), {}),
        (reverse("patient-set-log", args=[pk]), log_payload(rx)),
        (reverse("patient-set-void", args=[pk, logged.pk]), {"reason": "duplicate"}),
        (
            reverse("patient-clearance-record", args=[pk]),
            clearance_payload(decision="cleared", max_stage=""),
        ),
    ]


ACTION_NAMES = ["start", "advance", "regress", "stop", "log", "void", "clearance"]


@pytest.mark.parametrize("who", ["therapist", "colleague"])
def test_the_care_team_therapists_see_the_pages(request, client, scene, who):
    client.force_login(request.getfixturevalue(who))
    for url in page_urls(scene):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("who", ["therapist", "colleague"])
@pytest.mark.parametrize("action", range(len(ACTION_NAMES)), ids=ACTION_NAMES)
def test_the_care_team_therapists_act(request, client, scene, who, action):
    client.force_login(request.getfixturevalue(who))
    url, data = actions(scene)[action]
    response = client.post(url, data)
    assert response.status_code == 302, text(response)
    assert response["Location"].startswith(detail(scene["patient"]))


def test_staff_see_the_pages_without_any_action_form(client, staff, scene):
    client.force_login(staff)
    for url in page_urls(scene):
        assert client.get(url).status_code == 200
    page = text(client.get(detail(scene["patient"])))
    assert "You are viewing as clinic staff" in page
    assert '<form method="post" action="/patients/' not in page
    assert "Advance to stage" not in page and "Void…" not in page
    assert "← Reports" in page


@pytest.mark.parametrize("action", range(len(ACTION_NAMES)), ids=ACTION_NAMES)
def test_staff_cannot_act(client, staff, scene, action):
    client.force_login(staff)
    url, data = actions(scene)[action]
    assert client.post(url, data).status_code == 403
    assert Prescription.objects.count() == 1
    assert SetLog.objects.count() == 1 and not SetLog.objects.filter(voided_at__isnull=False)
    assert not ClearanceNote.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "the patient"])
def test_an_outsider_and_the_patient_find_nothing(request, client, scene, who):
    user = request.getfixturevalue("outsider") if who == "outsider" else scene["patient"].user
    client.force_login(user)
    for url in page_urls(scene):
        assert client.get(url).status_code == 404
    for url, data in actions(scene):
        assert client.post(url, data).status_code == 404
    assert SetLog.objects.count() == 1
    assert Prescription.objects.count() == 1


def test_anonymous_users_are_sent_to_sign_in(client, scene):
    login = reverse("login")
    for url in page_urls(scene):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login)
    for url, data in actions(scene):
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith(login)


def test_actions_refuse_get(client, therapist, scene):
    client.force_login(therapist)
    for url, _ in actions(scene):
        assert client.get(url).status_code == 405


def test_every_form_on_the_page_carries_the_csrf_token(client, therapist, scene):
    client.force_login(therapist)
    page = text(client.get(detail(scene["patient"])))
    forms = re.findall(r'<form method="post".*?</form>', page, flags=re.S)
    assert len(forms) >= 5  # advance/regress/stop, start, log, void, clearance, sign out
    assert all("csrfmiddlewaretoken" in form for form in forms)


def test_an_action_without_the_csrf_token_is_refused(therapist, scene):
    client = Client(enforce_csrf_checks=True)
    client.force_login(therapist)
    url, data = actions(scene)[4]
    assert client.post(url, data).status_code == 403
    assert SetLog.objects.count() == 1


# -- the chart ------------------------------------------------------------------------------------


def test_the_chart_has_a_point_per_set_and_marks_stage_steps_and_pain():
    tz = zoneinfo.ZoneInfo("Europe/London")
    base = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    sets = [
        ChartSet(base + dt.timedelta(days=1), 10, 1, 1, 5),
        ChartSet(base + dt.timedelta(days=2), 21, 2, 1, 5),
        ChartSet(base + dt.timedelta(days=4), 12, 7, 2, 5),
        # 5/10 under a prescription that alerts above 4: a painful set too.
        ChartSet(base + dt.timedelta(days=4, hours=2), 9, 5, 2, 4),
    ]
    steps = [ChartStep(base, None, 1), ChartStep(base + dt.timedelta(days=3), 1, 2)]
    chart = progression_chart(
        side_label="Left",
        sets=sets,
        steps=steps,
        start=base - dt.timedelta(hours=12),
        end=base + dt.timedelta(days=5),
        ready_at_reps=20,
        tz=tz,
        element_id="chart-left",
    )
    svg = str(chart.svg)
    assert svg.count('class="point') == 4
    assert svg.count('class="point pain"') == 2
    assert svg.count('<g class="step">') == 2
    assert ">Stage 1<" in svg and ">↑ Stage 2<" in svg
    assert 'aria-labelledby="chart-left-title chart-left-desc"' in svg
    assert '<title id="chart-left-title">Left side: reps per set' in svg
    assert "4 sets, 9 to 21 reps (ready at 20)" in chart.description
    assert "Stage 2 on 05 Mar" in chart.description
    assert "2 sets above their pain alert threshold (highest 7/10" in chart.description
    assert "ready at 20" in svg


def test_the_page_charts_each_valid_set_with_its_numbers_as_a_table(client, therapist, patient):
    rx = start(patient, therapist, days_ago=10)
    sets = add_sets(rx, 6)
    set_void(set_log=sets[0], by=therapist, reason="duplicate")
    successor = prescription_advance(prescription=rx, by=therapist, at=timezone.now())
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    left = page[page.index('id="chart-left"') : page.index("</figure>")]
    svg = left[: left.index("</svg>")]
    assert svg.count('class="point') == 5  # the voided set counts for nothing
    assert svg.count('<g class="step">') == 2  # the start and the advance
    assert "The chart's numbers as a table" in left
    assert successor.stage.number == 2
    assert 'id="chart-right"' not in page


# -- cost -----------------------------------------------------------------------------------------


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_patient_page_runs_the_same_number_of_queries_for_5_or_60_sets(
    client, therapist, patient, other_patient, patient_requiring_clearance
):
    client.force_login(therapist)
    few, many = patient, other_patient
    for p, n in ((few, 5), (many, 60)):
        for side in ("left", "right"):
            rx = start(p, therapist, side=side, days_ago=5)
            add_sets(rx, n // 2 + (n % 2 if side == "left" else 0))
        record_clearance(p, by=therapist, signed_on=TODAY, review_on=TODAY)
        [first, *_] = SetLog.objects.filter(patient=p)
        set_void(set_log=first, by=therapist, reason="test")
    assert SetLog.objects.filter(patient=many).count() == 60
    assert count_queries(client, detail(few)) == count_queries(client, detail(many))


def test_the_history_page_runs_the_same_number_of_queries_however_long_the_history(
    client, therapist, colleague, patient, other_patient
):
    client.force_login(therapist)
    for p, n in ((patient, 3), (other_patient, 40)):
        rx = start(p, therapist)
        for i, logged in enumerate(add_sets(rx, n)):
            set_void(set_log=logged, by=colleague if i % 2 else therapist, reason="test")
    few = count_queries(client, reverse("patient-history", args=[patient.pk]))
    many = count_queries(client, reverse("patient-history", args=[other_patient.pk]))
    assert few == many


def test_a_set_logged_through_the_service_appears_with_its_source(client, therapist, patient):
    rx = start(patient, therapist)
    set_log(
        SetLogRequest(
            patient=patient,
            prescription=rx,
            reps=9,
            pain=1,
            performed_at=timezone.now() - dt.timedelta(minutes=5),
            client_id=uuid.uuid4(),
            by=patient.user,
            source=Source.APP,
        )
    )
    client.force_login(therapist)
    page = text(client.get(detail(patient)))
    assert "Phone app" in page and "maya" in page
