"""The patient's "my exercises" page: the plan per side, logging a set (plain POST and htmx),
idempotency on the form's client_id, messages, and who may reach it."""

import datetime as dt
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exercises import services
from exercises.models import SetLog, Source
from tests.factories import SetLogFactory, UserFactory, record_clearance, stage

ME = reverse("me")
LOG = reverse("me-log")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def plan(patient, therapist):
    """Maya's left side at stage 2: 3 × 12, 4 days a week, a 2-second hold at the top."""
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
        notes="Keep the movement small at first.",
    )


@pytest.fixture
def maya(client, patient):
    client.force_login(patient.user)
    return client


def client_id_in(html: str, side: str = "left") -> str:
    match = re.search(rf'name="{side}-client_id" value="([0-9a-f-]+)"', html)
    assert match, "the form carries a client_id"
    return match.group(1)


def form_data(plan, **overrides):
    data = {
        "side": plan.side,
        f"{plan.side}-prescription": plan.pk,
        f"{plan.side}-client_id": str(uuid.uuid4()),
        f"{plan.side}-reps": "12",
        f"{plan.side}-pain": "2",
        f"{plan.side}-effort": "6",
        f"{plan.side}-note": "",
    }
    data.update({f"{plan.side}-{k}" if k != "side" else k: v for k, v in overrides.items()})
    return data


# -- the plan -------------------------------------------------------------------------------------


def test_it_shows_the_plan_with_the_stage_instructions_and_the_dose(maya, plan):
    response = maya.get(ME)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>My exercises · Clamshell clinic</title>" in html
    assert "Stage 2: Reverse clamshell" in html
    assert plan.stage.position in html
    assert plan.stage.movement in html
    assert "a slight pause at the top" in html  # the tempo cue, from the stage's content
    assert "Hold the top for 2 seconds." in html
    assert "3 sets × 12 reps" in html
    assert "4 days a week" in html
    assert "Keep the movement small at first." in html
    assert "Today: <strong>0 of 3</strong> sets done." in html


def test_the_log_form_explains_the_pain_scale_in_plain_words(maya, plan):
    html = maya.get(ME).content.decode()
    for anchor in (
        "no pain",
        "mild: fine",
        "moderate: acceptable",
        "too much: stop and tell your therapist",
    ):
        assert anchor in html
    assert html.count('type="radio" name="left-pain"') == 11
    assert 'id="id_left-reps"' in html and '<label for="id_left-reps">' in html
    assert 'hx-post="/me/log/"' in html and 'action="/me/log/"' in html
    assert "csrfmiddlewaretoken" in html


def test_every_render_gives_the_form_a_new_client_id(maya, plan):
    first = client_id_in(maya.get(ME).content.decode())
    second = client_id_in(maya.get(ME).content.decode())
    assert uuid.UUID(first) and first != second


def test_it_shows_this_weeks_progress(maya, patient, plan):
    SetLogFactory(
        prescription=plan, reps=14, pain=1, performed_at=timezone.now() - dt.timedelta(minutes=5)
    )
    html = maya.get(ME).content.decode()
    assert "<strong>1 of 4</strong>" in html  # sessions this week vs the target
    assert (
        '<strong>14 reps</strong> <span class="target">· target 20</span>' in html
    )  # best reps at this stage vs the 20-rep rule
    assert "<strong>1</strong> of the last 30 days" in html  # data days


def test_without_a_plan_it_says_what_happens_next(maya, patient):
    html = maya.get(ME).content.decode()
    assert "No exercises yet" in html
    assert "Riverside Physio" in html
    assert '<form class="log"' not in html


def test_a_discharged_patient_is_told_the_programme_has_ended(maya, patient, plan, therapist):
    services.patient_discharge(patient=patient, by=therapist)
    html = maya.get(ME).content.decode()
    assert "Your programme has ended" in html
    assert 'name="left-reps"' not in html


# -- logging a set --------------------------------------------------------------------------------


def test_a_plain_post_logs_the_set_and_redirects_with_a_message(maya, patient, plan):
    response = maya.post(LOG, form_data(plan, reps="12", pain="2", effort="6", note=" felt fine "))
    assert response.status_code == 302
    assert response["Location"] == f"{ME}#side-left"
    stored = SetLog.objects.get(patient=patient)
    assert (stored.reps, stored.pain, stored.effort, stored.note) == (12, 2, 6, "felt fine")
    assert stored.source == Source.WEB
    assert stored.logged_by == patient.user
    assert stored.prescription == plan

    html = maya.get(response["Location"]).content.decode()
    assert "Saved: 12 reps, pain 2/10 on your left side" in html
    assert "Today: <strong>1 of 3</strong> sets done." in html


def test_an_htmx_post_answers_with_only_the_side_and_a_fresh_form(maya, patient, plan):
    data = form_data(plan, reps="9", pain="0", effort="")
    response = maya.post(LOG, data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<h1>" not in html
    assert html.lstrip().startswith('<section class="card side" id="side-left"')
    assert 'role="status">Saved: 9 reps, pain 0/10 on your left side' in html
    assert 'id="summary"' in html and 'hx-swap-oob="true"' in html
    assert client_id_in(html) != data["left-client_id"]  # the next set is a new set
    assert 'name="left-reps"' in html and 'value=""' in html
    stored = SetLog.objects.get(patient=patient)
    assert stored.effort is None


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_double_submit_with_the_same_client_id_stores_one_set(maya, patient, plan, headers):
    data = form_data(plan)
    first = maya.post(LOG, data, **headers)
    second = maya.post(LOG, data, **headers)  # a double tap: same form, a moment later
    assert first.status_code == second.status_code
    assert SetLog.objects.filter(patient=patient).count() == 1
    assert b"not saved" not in second.content


def test_reusing_a_form_for_a_different_set_is_explained_and_can_be_saved_as_new(
    maya, patient, plan
):
    data = form_data(plan, reps="12")
    maya.post(LOG, data)
    response = maya.post(LOG, {**data, "left-reps": "15"})  # back button, new answers, same key
    assert response.status_code == 400
    html = response.content.decode()
    assert "This form had already saved another set." in html
    assert SetLog.objects.filter(patient=patient).count() == 1
    fresh = client_id_in(html)
    assert fresh != data["left-client_id"] and 'value="15"' in html

    maya.post(LOG, {**data, "left-reps": "15", "left-client_id": fresh})
    assert sorted(SetLog.objects.values_list("reps", flat=True)) == [12, 15]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reps": "150"}, "Enter the number of reps you did, from 1 to 100."),
        ({"reps": "0"}, "Enter the number of reps you did, from 1 to 100."),
        ({"reps": ""}, "Enter how many reps you did."),
        ({"reps": "lots"}, "Enter a whole number."),
        ({"pain": "11"}, "Choose your pain from 0 to 10."),
        ({"pain": "-1"}, "Choose your pain from 0 to 10."),
        ({"pain": ""}, "Choose how much it hurt, 0 to 10."),
        ({"effort": "12"}, "Choose the effort from 0 to 10, or leave it empty."),
    ],
)
def test_bad_input_shows_the_message_next_to_the_field_and_writes_nothing(
    maya, patient, plan, overrides, message
):
    response = maya.post(LOG, form_data(plan, note="keep me", **overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'class="field-error" id="id_left-{next(iter(overrides))}-error">{message}' in html or (
        f'class="field-error">{message}' in html
    )
    assert ">keep me</textarea>" in html  # the input is kept
    assert not SetLog.objects.exists()


def test_bad_input_over_htmx_comes_back_in_place_with_the_input_kept(maya, plan):
    data = form_data(plan, reps="150", pain="4")
    response = maya.post(LOG, data, **HTMX)
    assert response.status_code == 200  # htmx swaps only 2xx answers
    html = response.content.decode()
    assert "Enter the number of reps you did, from 1 to 100." in html
    assert 'value="150"' in html
    assert 'value="4" required checked' in html
    assert client_id_in(html) == data["left-client_id"]  # correcting it is still the same set
    assert not SetLog.objects.exists()


def test_a_set_for_a_stage_the_therapist_has_just_changed_is_refused(maya, plan, therapist):
    data = form_data(plan)
    services.prescription_advance(prescription=plan, by=therapist)
    response = maya.post(LOG, data, **HTMX)
    html = response.content.decode()
    assert "Your set was not saved." in html
    assert "log against the current plan" in html
    assert "Stage 3:" in html  # the card now shows the new stage
    assert not SetLog.objects.exists()


# -- status messages ------------------------------------------------------------------------------


@pytest.fixture
def paused(patient_requiring_clearance, therapist):
    """Ines's clearance lapsed yesterday: her left side is paused."""
    patient = patient_requiring_clearance
    patient.user = UserFactory(username="ines")
    patient.save()
    today = timezone.localdate()
    record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=40),
        review_on=today - dt.timedelta(days=1),
    )
    return services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=20),
    )


def test_a_paused_side_says_so_and_has_no_log_form(client, paused):
    client.force_login(paused.patient.user)
    html = client.get(ME).content.decode()
    assert "Paused: please contact your therapist (medical clearance)." in html
    assert "lapsed after its review date" in html  # the reason, worded for the patient…
    assert "Record a" not in html  # …not the care team's instruction to record a note
    assert 'name="left-reps"' not in html
    assert "Stage 1: Clamshell" in html  # the plan itself stays visible


def test_logging_on_a_paused_side_is_refused_with_the_message(client, paused):
    client.force_login(paused.patient.user)
    response = client.post(LOG, form_data(paused), **HTMX)
    html = response.content.decode()
    assert "Your set was not saved." in html
    assert "please contact your therapist" in html
    assert not SetLog.objects.exists()


def test_a_ready_side_is_told_the_therapist_will_confirm(maya, plan):
    maya.post(LOG, form_data(plan, reps="20", pain="3"))
    html = maya.get(ME).content.decode()
    assert "Ready for the next stage — your therapist will confirm." in html
    assert '<strong>20 reps</strong> <span class="target">· target 20</span>' in html


def test_too_much_pain_is_not_ready_and_answers_with_a_warning_not_a_receipt(maya, plan):
    response = maya.post(LOG, form_data(plan, reps="20", pain="6"), **HTMX)
    html = response.content.decode()
    assert 'class="notice stop" role="alert"' in html
    assert "Stop this exercise for today" in html
    assert "Stop this exercise now and rest." in html
    assert "Saved:" not in html
    assert "Ready for the next stage" not in html


def test_ready_at_the_top_stage_says_the_ladder_is_complete(maya, patient, therapist):
    top = services.prescription_start(
        patient=patient,
        side="right",
        stage=stage(4),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=2),
    )
    maya.post(LOG, form_data(top, reps="21", pain="1"))
    html = maya.get(ME).content.decode()
    assert "You have completed the ladder." in html
    assert "Ready for the next stage" not in html


# -- who may reach it -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ME, LOG])
def test_anonymous_users_are_sent_to_sign_in(client, db, url):
    response = client.get(url) if url == ME else client.post(url, {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("who", ["therapist", "colleague", "staff", "outsider"])
def test_care_team_and_outsiders_are_refused(client, request, who, plan):
    client.force_login(request.getfixturevalue(who))
    assert client.get(ME).status_code == 403
    assert client.post(LOG, form_data(plan)).status_code == 403
    assert not SetLog.objects.exists()


def test_a_patient_cannot_log_against_another_patients_prescription(client, other_patient, plan):
    client.force_login(other_patient.user)
    response = client.post(LOG, form_data(plan))
    assert response.status_code == 302  # the other patient has no such side: back to their plan
    response = client.post(LOG, form_data(plan), **HTMX)
    assert not SetLog.objects.exists()


def test_another_patients_prescription_id_is_not_found(client, other_patient, plan, therapist):
    mine = services.prescription_start(
        patient=other_patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=1),
    )
    client.force_login(other_patient.user)
    response = client.post(LOG, {**form_data(mine), "left-prescription": plan.pk}, **HTMX)
    assert "No such prescription for this patient." in response.content.decode()
    assert not SetLog.objects.exists()


def test_an_unknown_side_is_a_bad_request(maya, plan):
    assert maya.post(LOG, {**form_data(plan), "side": "middle"}).status_code == 400


def test_get_on_the_log_url_is_not_allowed(maya, plan):
    assert maya.get(LOG).status_code == 405


def test_the_form_needs_the_csrf_token(client, patient, plan):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(patient.user)
    assert strict.post(LOG, form_data(plan)).status_code == 403
    assert not SetLog.objects.exists()


# -- cost -----------------------------------------------------------------------------------------


def _queries_for(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME).status_code == 200
    return len(queries)


def test_the_page_runs_the_same_queries_for_few_and_many_sets(maya, patient, plan, therapist):
    right = services.prescription_start(
        patient=patient,
        side="right",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=25),
    )
    SetLogFactory(prescription=plan)
    few = _queries_for(maya)
    for days in range(1, 20):
        for prescription in (plan, right):
            if prescription.started_at < timezone.now() - dt.timedelta(days=days):
                SetLogFactory(
                    prescription=prescription, performed_at=timezone.now() - dt.timedelta(days=days)
                )
            SetLogFactory(
                prescription=prescription, performed_at=timezone.now() - dt.timedelta(minutes=days)
            )
    services.prescription_advance(prescription=right, by=therapist)
    many = _queries_for(maya)
    assert few == many


# -- pain as a warning, the key and the goal from the thresholds in force ------------------------


def test_without_javascript_a_painful_set_shows_the_warning_on_its_side_after_the_redirect(
    maya, plan, clinic
):
    clinic.phone = "020 7946 0000"
    clinic.save()
    response = maya.post(LOG, form_data(plan, reps="8", pain="7"))
    assert response.status_code == 302
    stored = plan.set_logs.get()
    assert response.url == f"{ME}?set={stored.pk}#side-left"
    html = maya.get(response.url).content.decode()
    assert "Stop this exercise for today" in html
    assert "Pain 7/10 is more than this exercise should cause" in html
    assert 'href="tel:02079460000"' in html
    assert "Call Riverside Physio: 020 7946 0000" in html
    # A reload shows it again; the plain page does not.
    assert "Stop this exercise for today" in maya.get(response.url).content.decode()
    assert "Stop this exercise for today" not in maya.get(ME).content.decode()


def test_another_patients_set_id_shows_no_warning(maya, plan, other_patient, therapist):
    theirs = services.prescription_start(
        patient=other_patient, side="left", stage=stage(1), by=therapist
    )
    logged = services.set_log(
        services.SetLogRequest(
            patient=other_patient,
            prescription=theirs,
            reps=5,
            pain=9,
            performed_at=timezone.now(),
            client_id=uuid.uuid4(),
            by=therapist,
            source="clinic",
        )
    ).set_log
    html = maya.get(f"{ME}?set={logged.pk}").content.decode()
    assert "Stop this exercise" not in html


def test_a_set_within_the_threshold_is_a_calm_receipt(maya, plan):
    html = maya.post(LOG, form_data(plan, reps="12", pain="5"), **HTMX).content.decode()
    assert "Saved: 12 reps, pain 5/10" in html
    assert "Stop this exercise" not in html


def test_a_clinic_that_alerts_above_4_warns_at_5_and_its_key_says_so(maya, plan, clinic):
    clinic.pain_ceiling, clinic.pain_alert_above = 2, 4
    clinic.save()
    page = maya.get(ME).content.decode()
    key = re.search(r'<ul class="scale-key"[^>]*>(.*?)</ul>', page, re.S)[1]
    assert re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", key)).strip() == (
        "0 no pain 1–2 mild: fine 3–4 moderate: acceptable 5+ too much: stop and tell your "
        "therapist"
    )
    assert (
        '<label class="pain-too_much">\n            <input type="radio" name="left-pain" value="5"'
        in page
    )
    html = maya.post(LOG, form_data(plan, reps="9", pain="5"), **HTMX).content.decode()
    assert "Stop this exercise for today" in html


def test_the_default_key_follows_the_pain_monitoring_model(maya, plan):
    page = maya.get(ME).content.decode()
    key = re.search(r'<ul class="scale-key"[^>]*>(.*?)</ul>', page, re.S)[1]
    assert re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", key)).strip() == (
        "0 no pain 1–3 mild: fine 4–5 moderate: acceptable 6+ too much: stop and tell your "
        "therapist"
    )


def test_the_dose_and_the_readiness_goal_read_as_one_instruction(maya, plan):
    page = re.sub(r"\s+", " ", maya.get(ME).content.decode())
    assert "3 sets × 12 reps" in page
    assert (
        "In your last set of the day, do as many reps as you can with good form, up to 20. "
        "<strong>20 reps in one set, with pain at 3 or less, shows you are ready for the next "
        "stage</strong> (your therapist confirms)." in page
    )
    assert "Aim for 12; in your last set, as many as you can with good form, up to 20." in page
    assert "Aim for 12. 20 reps in one set means you are ready" not in page


def test_ready_with_the_next_stage_ruled_out_tells_the_patient_plainly(
    client, patient_requiring_clearance, therapist
):
    from tests.factories import UserFactory, record_clearance

    patient = patient_requiring_clearance
    patient.user = UserFactory(username="ines")
    patient.save()
    today = timezone.localdate()
    record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=20),
        review_on=today + dt.timedelta(days=60),
        decision="restricted",
        precautions=("no_internal_rotation",),
        operated_side="left",
        today=today - dt.timedelta(days=20),
    )
    rx = services.prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
    )
    services.set_log(
        services.SetLogRequest(
            patient=patient,
            prescription=rx,
            reps=20,
            pain=1,
            performed_at=timezone.now(),
            client_id=uuid.uuid4(),
            by=patient.user,
            source="web",
        )
    )
    client.force_login(patient.user)
    page = client.get(ME).content.decode()
    assert "Well done: you did 20 reps." in page
    assert "does not allow the next stage yet" in page
    assert "Ready for the next stage" not in page


def test_the_instructions_link_to_the_sources(maya, plan):
    assert f'href="{reverse("sources")}">Sources</a>' in maya.get(ME).content.decode()
