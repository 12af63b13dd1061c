"""The admin for the ladder, prescriptions, stage changes and set logs.

Stages are content and editable (but a rung keeps its number); everything clinical goes through the
services: prescriptions start through `prescription_start` and change only through the actions, sets
are logged through `set_log` and only ever voided (with a reason), stage changes are read-only.
"""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from exercises.models import ChangeReason, Prescription, SetLog, Source, Stage, StageChange
from patients.clearance import clearance_problem
from patients.models import Decision
from tests.factories import (
    ClearanceNoteFactory,
    ClinicFactory,
    PatientFactory,
    PrescriptionFactory,
    SetLogFactory,
    UserFactory,
    stage,
)
from tests.patients.test_admin import (
    action_names,
    changelist_queries,
    form_errors,
    result_list,
)

pytestmark = pytest.mark.django_db


def url(model: str, view: str, *args: object) -> str:
    app = "patients" if model == "patient" else "exercises"
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(client, action: str, *objects, model: str = "prescription"):
    return client.post(
        url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )


def today_in(clinic) -> dt.date:
    return clinic.local_date(timezone.now())


@pytest.fixture
def prescription(patient, therapist):
    return PrescriptionFactory(
        patient=patient, side="left", stage=stage(1), prescribed_by=therapist
    )


@pytest.fixture
def set_logged(prescription, therapist):
    return SetLogFactory(prescription=prescription, logged_by=therapist, reps=12, pain=2)


@pytest.fixture
def cleared_to_stage_1(fracture, therapist):
    return ClearanceNoteFactory(
        patient=fracture, recorded_by=therapist, decision=Decision.RESTRICTED, max_stage=1
    )


def start_post_data(patient, *, side="left", stage_number=1, **overrides) -> dict[str, object]:
    data = {
        "patient": patient.pk,
        "side": side,
        "stage": stage(stage_number).pk,
        "target_sets": 3,
        "target_reps": 12,
        "hold_at_top_seconds": 2,
        "sessions_per_week": 5,
        "progress_at_reps": "",
        "pain_ceiling": "",
        "notes": "Slow, pause at the top.",
    }
    return {**data, **overrides}


def set_post_data(prescription, *, performed_at=None, **overrides) -> dict[str, object]:
    performed_at = timezone.localtime(performed_at or timezone.now() - dt.timedelta(hours=1))
    data = {
        "prescription": prescription.pk,
        "reps": 15,
        "pain": 2,
        "effort": 6,
        "performed_at_0": performed_at.strftime("%Y-%m-%d"),
        "performed_at_1": performed_at.strftime("%H:%M:%S"),
        "note": "Done in clinic.",
    }
    return {**data, **overrides}


# -- every page renders --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["ladder", "stage", "prescription", "stagechange", "setlog"])
def test_every_changelist_renders_with_rows(admin_client, set_logged, model):
    StageChange.objects.create(
        patient=set_logged.patient,
        side="left",
        to_stage=stage(1),
        reason=ChangeReason.START,
        prescription=set_logged.prescription,
        at=timezone.now(),
    )
    response = admin_client.get(url(model, "changelist"))

    assert response.status_code == 200
    assert len(result_list(response)) >= 1


@pytest.mark.parametrize("model", ["ladder", "stage", "prescription", "setlog"])
def test_every_add_page_renders(admin_client, model):
    assert admin_client.get(url(model, "add")).status_code == 200


def test_every_change_and_history_page_renders(admin_client, admin_user, prescription, set_logged):
    started = admin_client.post(
        url("prescription", "add"), start_post_data(prescription.patient, side="right")
    )
    assert started.status_code == 302
    change = StageChange.objects.get()
    voided = SetLogFactory(
        prescription=prescription,
        voided_at=timezone.now(),
        voided_by=admin_user,
        void_reason="Logged twice.",
    )
    ladder = stage(1).ladder
    pages = [
        ("ladder", ladder),
        ("stage", stage(1)),
        ("prescription", prescription),
        ("stagechange", change),
        ("setlog", set_logged),
        ("setlog", voided),
    ]
    for model, obj in pages:
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200, model
    for model, obj in pages[2:]:
        assert admin_client.get(url(model, "history", obj.pk)).status_code == 200, model


# -- the ladder ----------------------------------------------------------------------------------


def test_the_ladder_page_shows_its_stages_inline(admin_client):
    ladder = stage(1).ladder

    response = admin_client.get(url("ladder", "change", ladder.pk))

    (stages,) = response.context["inline_admin_formsets"]
    assert [form.instance.number for form in stages.formset.forms] == [1, 2, 3, 4]


def test_a_stage_keeps_its_number_and_ladder_once_created(admin_client):
    first = stage(1)
    other_ladder = type(first.ladder).objects.create(slug="bridge", name="Bridge", source="-")
    fields = [f.name for f in Stage._meta.concrete_fields if f.name != "id"]
    data = {name: getattr(first, name) for name in fields if name != "ladder"}
    data.update(ladder=other_ladder.pk, number=9, name="Clamshell (knees apart)")

    response = admin_client.post(url("stage", "change", first.pk), data)

    assert response.status_code == 302, form_errors(response)
    first.refresh_from_db()
    assert (first.name, first.number, first.ladder.slug) == (
        "Clamshell (knees apart)",
        1,
        "hip-clamshell",
    )


def test_a_new_stage_is_added_with_the_number_given(admin_client):
    template = stage(4)
    fields = [f.name for f in Stage._meta.concrete_fields if f.name not in ("id", "ladder")]
    data = {name: getattr(template, name) for name in fields}
    data.update(ladder=template.ladder_id, number=5, name="Banded")

    response = admin_client.post(url("stage", "add"), data)

    assert response.status_code == 302, form_errors(response)
    assert Stage.objects.get(ladder=template.ladder, number=5).name == "Banded"


# -- prescriptions: start ------------------------------------------------------------------------


def test_admin_refuses_a_gated_prescription(admin_client, fracture):
    response = admin_client.post(url("prescription", "add"), start_post_data(fracture))

    assert response.status_code == 200
    gate = clearance_problem(fracture, stage(1), "left", today_in(fracture.clinic))
    assert gate is not None
    assert form_errors(response)["__all__"] == [gate]
    assert gate in response.content.decode().replace("&#x27;", "'")
    assert not Prescription.objects.exists()
    assert not StageChange.objects.exists()
    assert not Prescription.history.exists()


def test_admin_refuses_a_stage_above_what_the_clearance_allows(
    admin_client, fracture, cleared_to_stage_1
):
    response = admin_client.post(
        url("prescription", "add"), start_post_data(fracture, stage_number=2)
    )

    assert response.status_code == 200
    (error,) = form_errors(response)["__all__"]
    assert "allows up to stage 1, not stage 2" in error
    assert not Prescription.objects.exists()


def test_admin_starts_a_prescription_through_the_service(
    admin_client, admin_user, fracture, cleared_to_stage_1
):
    response = admin_client.post(url("prescription", "add"), start_post_data(fracture))

    assert response.status_code == 302, form_errors(response)
    started = Prescription.objects.get()
    assert (started.patient, started.side, started.stage) == (fracture, "left", stage(1))
    assert (started.target_reps, started.hold_at_top_seconds) == (12, 2)
    assert started.is_active and started.prescribed_by == admin_user
    change = StageChange.objects.get()
    assert (change.reason, change.from_stage, change.to_stage, change.by) == (
        ChangeReason.START,
        None,
        stage(1),
        admin_user,
    )
    assert change.prescription == started
    # The form's dry run of the service was rolled back: one write, one history row.
    assert started.history.count() == 1


def test_admin_refuses_a_second_active_prescription_on_a_side(admin_client, prescription):
    response = admin_client.post(
        url("prescription", "add"), start_post_data(prescription.patient, stage_number=2)
    )

    assert response.status_code == 200
    (error,) = form_errors(response)["__all__"]
    assert error.startswith("The left side already has an active prescription (stage 1)")
    assert Prescription.objects.get() == prescription


def test_admin_refuses_to_start_a_discharged_patient(admin_client, patient):
    patient.discharged_at = timezone.now()
    patient.save()

    response = admin_client.post(url("prescription", "add"), start_post_data(patient))

    assert response.status_code == 200
    assert "has been discharged" in form_errors(response)["__all__"][0]
    assert not Prescription.objects.exists()


def test_an_existing_prescription_is_read_only(admin_client, prescription):
    change_url = url("prescription", "change", prescription.pk)
    page = admin_client.get(change_url)
    assert 'name="_save"' not in page.content.decode()

    response = admin_client.post(change_url, start_post_data(prescription.patient, target_reps=30))

    assert response.status_code == 403
    prescription.refresh_from_db()
    assert prescription.target_reps == 10
    assert admin_client.get(url("prescription", "delete", prescription.pk)).status_code == 403


def test_the_prescription_page_says_why_it_is_paused(admin_client, fracture, therapist):
    paused = PrescriptionFactory(patient=fracture, stage=stage(1), prescribed_by=therapist)

    response = admin_client.get(url("prescription", "change", paused.pk))

    assert "needs medical clearance (pelvic fracture)" in response.content.decode()


# -- prescriptions: the actions ------------------------------------------------------------------


def test_advance_moves_a_side_one_stage_up(admin_client, admin_user, prescription):
    response = run_action(admin_client, "advance", prescription)

    assert messages_of(response) == ["Maya Lindqvist, left side (stage 1): advanced to stage 2."]
    prescription.refresh_from_db()
    assert not prescription.is_active
    successor = Prescription.objects.active().get(patient=prescription.patient, side="left")
    assert successor.stage == stage(2)
    change = StageChange.objects.get(prescription=successor)
    assert (change.reason, change.by) == (ChangeReason.PROGRESSED, admin_user)


def test_advance_respects_the_clearance_gate_and_shows_why(
    admin_client, fracture, cleared_to_stage_1, therapist
):
    held = PrescriptionFactory(patient=fracture, stage=stage(1), prescribed_by=therapist)

    response = run_action(admin_client, "advance", held)

    gate = clearance_problem(fracture, stage(2), "left", today_in(fracture.clinic))
    assert messages_of(response) == [f"Ines Duarte, left side (stage 1): {gate}"]
    assert "allows up to stage 1, not stage 2" in gate
    (message,) = response.context["messages"]
    assert message.level_tag == "error"
    held.refresh_from_db()
    assert held.is_active
    assert not StageChange.objects.exists()


def test_advance_at_the_top_of_the_ladder_says_so(admin_client, patient, therapist):
    top = PrescriptionFactory(patient=patient, stage=stage(4), prescribed_by=therapist)

    response = run_action(admin_client, "advance", top)

    (message,) = messages_of(response)
    assert "Stage 4 is the top of the ladder" in message
    assert Prescription.objects.get().is_active


def test_each_selected_prescription_is_reported_on_its_own(admin_client, patient, therapist):
    left = PrescriptionFactory(
        patient=patient, side="left", stage=stage(2), prescribed_by=therapist
    )
    right = PrescriptionFactory(
        patient=patient, side="right", stage=stage(4), prescribed_by=therapist
    )

    response = run_action(admin_client, "advance", left, right)

    assert sorted(messages_of(response)) == [
        "Maya Lindqvist, left side (stage 2): advanced to stage 3.",
        "Maya Lindqvist, right side (stage 4): Stage 4 is the top of the ladder: the ladder is "
        "complete. Keep the patient at this stage or stop the prescription.",
    ]
    assert Prescription.objects.active().get(side="left").stage == stage(3)
    assert Prescription.objects.active().get(side="right") == right


def test_regress_moves_a_side_one_stage_down(admin_client, admin_user, patient, therapist):
    painful = PrescriptionFactory(patient=patient, stage=stage(3), prescribed_by=therapist)

    response = run_action(admin_client, "regress", painful)

    assert messages_of(response) == ["Maya Lindqvist, left side (stage 3): regressed to stage 2."]
    assert Prescription.objects.active().get().stage == stage(2)
    assert StageChange.objects.get().reason == ChangeReason.REGRESSED


def test_stop_ends_a_prescription_and_a_second_stop_is_refused(
    admin_client, admin_user, prescription
):
    run_action(admin_client, "stop", prescription)
    prescription.refresh_from_db()
    assert prescription.ended_at is not None
    change = StageChange.objects.get()
    assert (change.reason, change.to_stage, change.by) == (
        ChangeReason.STOPPED,
        None,
        admin_user,
    )

    again = run_action(admin_client, "stop", prescription)

    assert messages_of(again) == [
        "Maya Lindqvist, left side (stage 1): This prescription has already ended; refresh to "
        "see the patient's current stage."
    ]


# -- prescriptions: finding them -----------------------------------------------------------------


def test_prescriptions_filter_by_status_side_and_stage_and_search_by_patient(
    admin_client, prescription, other_patient, therapist
):
    ended = PrescriptionFactory(
        patient=other_patient,
        side="right",
        stage=stage(2),
        ended_at=timezone.now(),
        prescribed_by=therapist,
    )
    changelist = url("prescription", "changelist")

    assert result_list(admin_client.get(changelist, {"status": "ended"})) == [ended]
    assert result_list(admin_client.get(changelist, {"status": "active"})) == [prescription]
    assert result_list(admin_client.get(changelist, {"side__exact": "right"})) == [ended]
    assert result_list(admin_client.get(changelist, {"stage__id__exact": stage(1).pk})) == [
        prescription
    ]
    assert result_list(admin_client.get(changelist, {"q": "Haddad"})) == [ended]
    by_number = admin_client.get(changelist, {"q": prescription.patient.record_number})
    assert result_list(by_number) == [prescription]
    assert {"advance", "regress", "stop"} <= action_names(admin_client.get(changelist))
    assert "delete_selected" not in action_names(admin_client.get(changelist))


def test_the_prescription_changelist_costs_the_same_queries_for_2_or_10_rows(
    admin_client, therapist
):
    def add_prescriptions(n: int) -> None:
        for _ in range(n):
            gated = PatientFactory(
                clinic=ClinicFactory(), requires_clearance=True, clearance_reason="fracture"
            )
            ClearanceNoteFactory(patient=gated, recorded_by=therapist)
            PrescriptionFactory(patient=gated, side="left", prescribed_by=UserFactory())
            PrescriptionFactory(patient=gated, side="right", stage=stage(2), prescribed_by=None)

    changelist = url("prescription", "changelist")
    add_prescriptions(1)
    admin_client.get(changelist)
    with_two = changelist_queries(admin_client, changelist)
    add_prescriptions(4)
    assert Prescription.objects.count() == 10
    assert changelist_queries(admin_client, changelist) == with_two


# -- stage changes -------------------------------------------------------------------------------


def test_stage_changes_are_read_only(admin_client, prescription):
    run_action(admin_client, "advance", prescription)
    change = StageChange.objects.get()
    change_url = url("stagechange", "change", change.pk)

    assert admin_client.get(url("stagechange", "add")).status_code == 403
    assert admin_client.post(change_url, {"reason": "regressed"}).status_code == 403
    assert admin_client.get(url("stagechange", "delete", change.pk)).status_code == 403
    change.refresh_from_db()
    assert change.reason == ChangeReason.PROGRESSED


def test_stage_changes_filter_by_reason_and_search_by_patient(
    admin_client, prescription, other_patient, therapist
):
    run_action(admin_client, "advance", prescription)
    other = PrescriptionFactory(patient=other_patient, stage=stage(2), prescribed_by=therapist)
    run_action(admin_client, "regress", other)
    changelist = url("stagechange", "changelist")

    regressed = admin_client.get(changelist, {"reason__exact": ChangeReason.REGRESSED})
    assert [c.patient for c in result_list(regressed)] == [other_patient]
    found = admin_client.get(changelist, {"q": "Lindqvist"})
    assert [c.reason for c in result_list(found)] == [ChangeReason.PROGRESSED]


def test_the_stage_change_changelist_costs_the_same_queries_for_2_or_10_rows(admin_client):
    def add_changes(n: int) -> None:
        for _ in range(n):
            started = PrescriptionFactory(patient=PatientFactory(clinic=ClinicFactory()))
            run_action(admin_client, "advance", started)

    changelist = url("stagechange", "changelist")
    add_changes(2)
    admin_client.get(changelist)
    with_two = changelist_queries(admin_client, changelist)
    add_changes(8)
    assert StageChange.objects.count() == 10
    assert changelist_queries(admin_client, changelist) == with_two


# -- set logs ------------------------------------------------------------------------------------


def test_admin_logs_a_set_in_clinic_through_the_service(admin_client, admin_user, prescription):
    response = admin_client.post(url("setlog", "add"), set_post_data(prescription))

    assert response.status_code == 302, form_errors(response)
    logged = SetLog.objects.get()
    assert (logged.patient, logged.prescription, logged.stage, logged.side) == (
        prescription.patient,
        prescription,
        stage(1),
        "left",
    )
    assert (logged.reps, logged.pain, logged.effort, logged.note) == (15, 2, 6, "Done in clinic.")
    assert (logged.source, logged.logged_by) == (Source.CLINIC, admin_user)
    assert logged.client_id is not None
    assert logged.history.get().history_user == admin_user


def test_the_set_form_finds_a_prescription_by_patient_name(admin_client, prescription):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "exercises",
            "model_name": "setlog",
            "field_name": "prescription",
            "term": "Lindqvist",
        },
    )

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(prescription.pk)]


def test_two_sets_logged_in_clinic_get_their_own_idempotency_keys(admin_client, prescription):
    admin_client.post(url("setlog", "add"), set_post_data(prescription))
    admin_client.post(url("setlog", "add"), set_post_data(prescription))

    assert SetLog.objects.values("client_id").distinct().count() == 2


def test_admin_refuses_a_set_on_a_prescription_paused_for_clearance(
    admin_client, fracture, therapist
):
    paused = PrescriptionFactory(patient=fracture, stage=stage(1), prescribed_by=therapist)

    response = admin_client.post(url("setlog", "add"), set_post_data(paused))

    assert response.status_code == 200
    (error,) = form_errors(response)["__all__"]
    assert error.startswith("Your exercises are paused until your medical clearance is up to date")
    assert not SetLog.objects.exists()


def test_admin_refuses_a_set_performed_before_the_prescription_started(admin_client, prescription):
    response = admin_client.post(
        url("setlog", "add"),
        set_post_data(prescription, performed_at=prescription.started_at - dt.timedelta(days=1)),
    )

    assert response.status_code == 200
    assert form_errors(response)["performed_at"] == [
        "This set was performed before the prescription started."
    ]
    assert not SetLog.objects.exists()


def test_admin_runs_the_field_checks_on_a_set(admin_client, prescription):
    response = admin_client.post(url("setlog", "add"), set_post_data(prescription, pain=11))

    assert response.status_code == 200
    assert "pain" in form_errors(response)
    assert not SetLog.objects.exists()


def test_voiding_a_set_needs_a_reason(admin_client, set_logged):
    response = admin_client.post(url("setlog", "change", set_logged.pk), {"void_reason": "  "})

    assert response.status_code == 200
    assert form_errors(response)["void_reason"] == ["Say why the set is voided."]
    set_logged.refresh_from_db()
    assert not set_logged.is_voided


def test_voiding_a_set_records_who_when_and_why(admin_client, admin_user, set_logged):
    response = admin_client.post(
        url("setlog", "change", set_logged.pk),
        {"void_reason": "Logged on the wrong side.", "reps": 99},
    )

    assert response.status_code == 302, form_errors(response)
    set_logged.refresh_from_db()
    assert set_logged.is_voided
    assert (set_logged.voided_by, set_logged.void_reason) == (
        admin_user,
        "Logged on the wrong side.",
    )
    assert set_logged.reps == 12  # only the void is editable
    assert set_logged.history.latest().history_user == admin_user


def test_a_voided_set_is_read_only(admin_client, admin_user, set_logged):
    admin_client.post(url("setlog", "change", set_logged.pk), {"void_reason": "Duplicate."})
    change_url = url("setlog", "change", set_logged.pk)
    assert 'name="_save"' not in admin_client.get(change_url).content.decode()

    response = admin_client.post(change_url, {"void_reason": "Something else."})

    assert response.status_code == 403
    set_logged.refresh_from_db()
    assert set_logged.void_reason == "Duplicate."


def test_a_set_is_never_deleted(admin_client, set_logged):
    assert admin_client.get(url("setlog", "delete", set_logged.pk)).status_code == 403
    assert "delete_selected" not in action_names(admin_client.get(url("setlog", "changelist")))
    assert SetLog.objects.filter(pk=set_logged.pk).exists()


def test_set_logs_filter_by_voided_source_and_stage_and_search_by_patient(
    admin_client, admin_user, set_logged, other_patient, therapist
):
    elsewhere = SetLogFactory(
        prescription=PrescriptionFactory(
            patient=other_patient, stage=stage(2), prescribed_by=therapist
        ),
        source=Source.WEB,
        voided_at=timezone.now(),
        voided_by=admin_user,
        void_reason="Test entry.",
    )
    changelist = url("setlog", "changelist")

    assert result_list(admin_client.get(changelist, {"voided": "yes"})) == [elsewhere]
    assert result_list(admin_client.get(changelist, {"voided": "no"})) == [set_logged]
    assert result_list(admin_client.get(changelist, {"source__exact": "web"})) == [elsewhere]
    assert result_list(admin_client.get(changelist, {"stage__id__exact": stage(1).pk})) == [
        set_logged
    ]
    assert result_list(admin_client.get(changelist, {"q": "Haddad"})) == [elsewhere]


def test_the_set_log_changelist_costs_the_same_queries_for_2_or_10_rows(admin_client, therapist):
    def add_sets(n: int) -> None:
        for _ in range(n):
            SetLogFactory(
                prescription=PrescriptionFactory(patient=PatientFactory(clinic=ClinicFactory())),
                logged_by=therapist,
            )

    changelist = url("setlog", "changelist")
    add_sets(2)
    admin_client.get(changelist)
    with_two = changelist_queries(admin_client, changelist)
    add_sets(8)
    assert SetLog.objects.count() == 10
    assert changelist_queries(admin_client, changelist) == with_two


# -- patients: the plan and discharge ------------------------------------------------------------


def test_the_patient_page_lists_the_current_prescriptions(admin_client, prescription, therapist):
    PrescriptionFactory(
        patient=prescription.patient,
        side="right",
        stage=stage(3),
        ended_at=timezone.now(),
        prescribed_by=therapist,
    )

    response = admin_client.get(url("patient", "change", prescription.patient.pk))

    formsets = {f.formset.prefix: f.formset for f in response.context["inline_admin_formsets"]}
    assert [form.instance for form in formsets["prescriptions"].forms] == [prescription]


def test_discharge_stops_every_prescription_and_a_second_discharge_is_refused(
    admin_client, admin_user, prescription, therapist
):
    patient = prescription.patient
    right = PrescriptionFactory(patient=patient, side="right", prescribed_by=therapist)

    response = run_action(admin_client, "discharge", patient, model="patient")

    assert messages_of(response) == ["Maya Lindqvist: discharged."]
    patient.refresh_from_db()
    assert patient.discharged_at is not None
    assert not Prescription.objects.active().filter(pk__in=[prescription.pk, right.pk]).exists()
    assert {c.reason for c in StageChange.objects.filter(by=admin_user)} == {ChangeReason.STOPPED}

    again = run_action(admin_client, "discharge", patient, model="patient")

    assert messages_of(again) == [
        "Maya Lindqvist: Maya Lindqvist has been discharged; no prescription can be started or "
        "changed."
    ]
