"""Movement precautions on a clearance note, and the stages they rule out, read from each stage's
own data (patients/precautions.py): precaution × stage × side, the gate's message, bad input,
and each door a stage is reached through (start, advance in the web page and the admin, the
automatic advance, logging a set)."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from exercises.models import Ladder, Prescription, SetLog, Source, Stage
from exercises.services import SetLogRequest, prescription_advance, prescription_start, set_log
from patients.clearance import check_clearance, clearance_problem
from patients.errors import ClearanceRequired, PrescriptionPaused
from patients.models import ClearanceNote, Decision
from patients.precautions import Precaution, conflicts
from tests.factories import record_clearance, stage

TODAY = dt.date(2026, 10, 20)
SIGNED = dt.date(2026, 10, 2)
DAY = dt.timedelta(days=1)

IR = Precaution.NO_INTERNAL_ROTATION
FLEX = Precaution.NO_FLEXION_PAST_90
LYING = Precaution.NO_LYING_ON_OPERATED_SIDE
ABDUCTION = Precaution.NO_RESISTED_ABDUCTION

# Operated hip on the left. (precaution, exercised side) → the stages ruled out.
MATRIX = [
    (IR, "left", {2, 3, 4}),  # stages 2–4 turn the top (left) hip inwards
    (IR, "right", set()),  # the left hip is underneath and does not rotate
    (FLEX, "left", set()),  # no stage bends a hip past 45°
    (FLEX, "right", set()),
    (LYING, "left", set()),  # exercising the left side: lying on the right
    (LYING, "right", {1, 2, 3, 4}),  # exercising the right side: lying on the left
    (ABDUCTION, "left", {1, 3, 4}),  # knee opens (1), leg held up (3, 4); 2 keeps knees together
    (ABDUCTION, "right", set()),
]


@pytest.fixture
def posterior_hip(clinic, therapist):
    from tests.factories import PatientFactory

    return PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name="Rosa",
        last_name="Campbell",
        affected_side="left",
        requires_clearance=True,
        clearance_reason="posterior-approach total hip replacement",
    )


def precaution_note(patient, by, precautions, operated_side="left"):
    return record_clearance(
        patient,
        by=by,
        signed_on=SIGNED,
        review_on=SIGNED + 90 * DAY,
        decision=Decision.RESTRICTED,
        precautions=tuple(precautions),
        operated_side=operated_side,
    )


@pytest.mark.parametrize(("precaution", "side", "ruled_out"), MATRIX)
def test_each_precaution_rules_out_exactly_the_stages_whose_movement_it_forbids(
    posterior_hip, therapist, precaution, side, ruled_out
):
    precaution_note(posterior_hip, therapist, [precaution])
    refused = {n for n in (1, 2, 3, 4) if clearance_problem(posterior_hip, stage(n), side, TODAY)}
    assert refused == ruled_out


@pytest.mark.parametrize("side", ["left", "right"])
def test_both_hips_operated_rules_out_rotation_on_either_side(posterior_hip, therapist, side):
    precaution_note(posterior_hip, therapist, [IR], operated_side="both")
    refused = {n for n in (1, 2, 3, 4) if clearance_problem(posterior_hip, stage(n), side, TODAY)}
    assert refused == {2, 3, 4}


def test_the_gate_says_which_precaution_and_which_stage(posterior_hip, therapist):
    precaution_note(posterior_hip, therapist, [IR])
    with pytest.raises(ClearanceRequired) as excinfo:
        check_clearance(posterior_hip, stage(2), "left", TODAY)
    assert (
        "Stage 2 turns the left hip inwards, which the clearance of 2 Oct 2026 rules out (no hip "
        "internal rotation past neutral)" in str(excinfo.value)
    )


def test_lying_on_the_operated_side_is_named_for_the_other_side(posterior_hip, therapist):
    precaution_note(posterior_hip, therapist, [LYING])
    message = clearance_problem(posterior_hip, stage(1), "right", TODAY)
    assert "Exercising the right side at stage 1 means lying on the left side" in message
    assert "(no lying on the operated side)" in message


def test_the_gate_reads_the_stage_data_not_its_number(posterior_hip, therapist):
    """A stage of another ladder that bends the bottom hip to 100° is ruled out for the other side
    by "no hip flexion past 90°": nothing in the rule knows the clamshell's numbers."""
    ladder = Ladder.objects.create(slug="deep-flexion", name="Deep flexion", source="test")
    deep = Stage.objects.create(
        ladder=ladder,
        number=1,
        name="Deep",
        summary="s",
        position="p",
        movement="m",
        cues="c",
        bottom_hip_flexion_deg=100,
        top_hip_flexion_deg=45,
        top_hip_rotation="external",
        top_leg_lifted=False,
        abducts_against_gravity=False,
        gmed_mvic_percent=10,
        source="test",
    )
    precaution_note(posterior_hip, therapist, [FLEX])
    assert "bends the left hip to 100°" in clearance_problem(posterior_hip, deep, "right", TODAY)
    assert clearance_problem(posterior_hip, deep, "left", TODAY) is None


def test_conflicts_are_listed_in_the_precautions_order(db):
    found = conflicts([ABDUCTION, IR], stage(3), "left", "left")
    assert [c.precaution for c in found] == [IR, ABDUCTION]


# -- bad input -------------------------------------------------------------------------------------


def test_a_precaution_not_in_the_list_is_refused_and_nothing_is_saved(posterior_hip, therapist):
    with pytest.raises(ValidationError) as excinfo:
        precaution_note(posterior_hip, therapist, ["no_jumping"])
    message = excinfo.value.message_dict["precautions"][0]
    assert "no_jumping is not one of the precautions" in message
    assert not ClearanceNote.objects.exists()


def test_precautions_need_a_restricted_decision(posterior_hip, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(
            posterior_hip,
            by=therapist,
            signed_on=SIGNED,
            review_on=SIGNED + 90 * DAY,
            decision=Decision.CLEARED,
            precautions=(IR,),
            operated_side="left",
        )
    assert "cleared with restrictions" in excinfo.value.message_dict["decision"][0]
    assert not ClearanceNote.objects.exists()


def test_precautions_need_the_side_they_protect(posterior_hip, therapist):
    posterior_hip.affected_side = ""  # nothing to default to
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(
            posterior_hip,
            by=therapist,
            signed_on=SIGNED,
            review_on=SIGNED + 90 * DAY,
            decision=Decision.RESTRICTED,
            precautions=(IR,),
            operated_side="",
        )
    assert "operated_side" in excinfo.value.message_dict


def test_the_web_form_refuses_a_precaution_not_in_the_list(client, therapist, posterior_hip):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[posterior_hip.pk]),
        {
            "clearance-decision": Decision.RESTRICTED,
            "clearance-reason": "THR",
            "clearance-signed_by_name": "Mr Okonkwo",
            "clearance-signed_by_credentials": "FRCS",
            "clearance-signed_on": (timezone.localdate() - DAY).isoformat(),
            "clearance-review_on": (timezone.localdate() + 60 * DAY).isoformat(),
            "clearance-weight_bearing": "full",
            "clearance-operated_side": "left",
            "clearance-precautions": ["no_internal_rotation", "no_jumping"],
        },
    )
    assert response.status_code == 200
    errors = response.context["clearance_form"].errors["precautions"]
    assert "no_jumping is not one of the precautions listed" in errors[0]
    assert not ClearanceNote.objects.exists()


# -- the doors -------------------------------------------------------------------------------------


@pytest.fixture
def cleared_for_external_rotation_only(posterior_hip, therapist):
    record_clearance(
        posterior_hip,
        by=therapist,
        signed_on=timezone.localdate() - 10 * DAY,
        review_on=timezone.localdate() + 60 * DAY,
        decision=Decision.RESTRICTED,
        precautions=(IR,),
        operated_side="left",
    )
    return posterior_hip


def test_starting_a_ruled_out_stage_is_refused(cleared_for_external_rotation_only, therapist):
    with pytest.raises(ClearanceRequired):
        prescription_start(
            patient=cleared_for_external_rotation_only, side="left", stage=stage(2), by=therapist
        )
    assert not Prescription.objects.exists()


def test_advancing_into_a_ruled_out_stage_is_refused(cleared_for_external_rotation_only, therapist):
    rx = prescription_start(
        patient=cleared_for_external_rotation_only, side="left", stage=stage(1), by=therapist
    )
    with pytest.raises(ClearanceRequired) as excinfo:
        prescription_advance(prescription=rx, by=therapist)
    assert "turns the left hip inwards" in str(excinfo.value)
    assert Prescription.objects.get().stage.number == 1


def test_the_other_side_may_work_any_stage(cleared_for_external_rotation_only, therapist):
    prescription_start(
        patient=cleared_for_external_rotation_only, side="right", stage=stage(4), by=therapist
    )


def test_automatic_advance_stops_at_a_ruled_out_stage(
    cleared_for_external_rotation_only, therapist
):
    patient = cleared_for_external_rotation_only
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        auto_advance=True,
        at=timezone.now() - dt.timedelta(hours=1),
    )
    set_log(
        SetLogRequest(
            patient=patient,
            prescription=rx,
            reps=25,
            pain=0,
            performed_at=timezone.now(),
            client_id=uuid.uuid4(),
            by=therapist,
            source=Source.CLINIC,
        )
    )
    assert Prescription.objects.active().get(side="left").stage.number == 1


def test_a_new_note_with_a_precaution_pauses_a_ruled_out_side(posterior_hip, therapist):
    record_clearance(
        posterior_hip,
        by=therapist,
        signed_on=timezone.localdate() - 20 * DAY,
        review_on=timezone.localdate() + 60 * DAY,
    )
    rx = prescription_start(patient=posterior_hip, side="left", stage=stage(2), by=therapist)
    precaution_note_today = record_clearance(
        posterior_hip,
        by=therapist,
        signed_on=timezone.localdate(),
        review_on=timezone.localdate() + 60 * DAY,
        decision=Decision.RESTRICTED,
        precautions=(IR,),
        operated_side="left",
    )
    assert precaution_note_today.precautions == [IR]
    with pytest.raises(PrescriptionPaused) as excinfo:
        set_log(
            SetLogRequest(
                patient=posterior_hip,
                prescription=rx,
                reps=10,
                pain=1,
                performed_at=timezone.now(),
                client_id=uuid.uuid4(),
                by=posterior_hip.user or therapist,
                source=Source.APP,
            )
        )
    assert "precautions (no hip internal rotation past neutral) rule out stage 2" in str(
        excinfo.value
    )
    assert not SetLog.objects.exists()


def test_the_web_start_form_offers_ruled_out_stages_disabled_with_the_reason(
    client, therapist, cleared_for_external_rotation_only
):
    client.force_login(therapist)
    page = client.get(
        reverse("patient-detail", args=[cleared_for_external_rotation_only.pk])
    ).content.decode()
    assert "Not allowed by the clearance on this side:" in page
    assert "Stage 2 turns the left hip inwards" in page
    assert f'value="{stage(2).pk}" disabled' in page
    assert f'value="{stage(1).pk}" selected' in page


def test_the_web_start_refuses_a_ruled_out_stage_with_the_gates_message(
    client, therapist, cleared_for_external_rotation_only
):
    client.force_login(therapist)
    patient = cleared_for_external_rotation_only
    response = client.post(
        reverse("patient-prescription-start", args=[patient.pk, "left"]),
        {
            "start-left-stage": stage(3).pk,
            "start-left-target_sets": 3,
            "start-left-target_reps": 10,
            "start-left-hold_at_top_seconds": 1,
            "start-left-sessions_per_week": 5,
        },
    )
    assert response.status_code == 200
    assert "Stage 3 turns the left hip inwards" in response.content.decode()
    assert not Prescription.objects.exists()


def test_the_patient_page_disables_advance_into_a_ruled_out_stage_and_says_why(
    client, therapist, cleared_for_external_rotation_only
):
    patient = cleared_for_external_rotation_only
    prescription_start(patient=patient, side="left", stage=stage(1), by=therapist)
    client.force_login(therapist)
    page = client.get(reverse("patient-detail", args=[patient.pk])).content.decode()
    assert 'disabled aria-describedby="blocked-left">Advance to stage 2' in page
    assert "Stage 2 is not allowed:" in page


def test_the_web_advance_is_refused_even_when_posted(
    client, therapist, cleared_for_external_rotation_only
):
    patient = cleared_for_external_rotation_only
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-prescription-advance", args=[patient.pk, rx.pk]),
        {"change-left-note": ""},
    )
    assert response.status_code == 200
    assert "Stage 2 turns the left hip inwards" in response.content.decode()
    assert Prescription.objects.active().get().stage.number == 1


def test_the_admin_start_and_advance_action_apply_the_precaution(
    admin_client, therapist, cleared_for_external_rotation_only
):
    patient = cleared_for_external_rotation_only
    response = admin_client.post(
        reverse("admin:exercises_prescription_add"),
        {
            "patient": patient.pk,
            "side": "left",
            "stage": stage(2).pk,
            "target_sets": 3,
            "target_reps": 10,
            "hold_at_top_seconds": 1,
            "sessions_per_week": 5,
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "Stage 2 turns the left hip inwards" in response.content.decode()
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist)
    response = admin_client.post(
        reverse("admin:exercises_prescription_changelist"),
        {"action": "advance", "_selected_action": [rx.pk]},
        follow=True,
    )
    assert "Stage 2 turns the left hip inwards" in response.content.decode()
    assert Prescription.objects.active().get().stage.number == 1
