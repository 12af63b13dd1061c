"""The clearance requirement is a clinical decision, not a checkbox (docs/domain.md).

Turning it on is one click; only a recorded clearance note — "no further clearance needed", signed
by a named clinician with credentials and date — ends it. Tried at each door: the service, the
web edit form, the admin's patient form, and the note itself through the web page and the admin.
"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from exercises.services import prescription_advance, prescription_start
from patients.clearance import ClearanceState, clearance_status
from patients.errors import ClearanceRequired
from patients.models import ClearanceNote, Decision
from patients.services import clearance_note_record, patient_update
from tests.factories import record_clearance, stage

DAY = dt.timedelta(days=1)


def details(patient, **changes):
    values = {
        "record_number": patient.record_number,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth,
        "affected_side": patient.affected_side,
        "primary_therapist": patient.primary_therapist,
        "requires_clearance": patient.requires_clearance,
        "clearance_reason": patient.clearance_reason,
    }
    return {**values, **changes}


def today(patient) -> dt.date:
    return patient.clinic.local_date(timezone.now())


def up_to_stage_2(patient, by):
    """A note signed today that clears the patient up to stage 2."""
    return record_clearance(
        patient,
        by=by,
        signed_on=today(patient),
        review_on=today(patient) + 30 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
        today=today(patient),
    )


def ending_note(patient, by, **overrides):
    data = {
        "patient": patient,
        "reason": "Pelvic fracture: united on X-ray",
        "decision": Decision.NOT_REQUIRED,
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD, orthopaedic trauma",
        # Today: an ending is signed on or after the day the requirement began (the fixture's).
        "signed_on": today(patient),
        "review_on": None,
        "recorded_by": by,
    }
    return clearance_note_record(**{**data, **overrides})


# -- the service -----------------------------------------------------------------------------------


def test_the_service_refuses_to_turn_the_requirement_off(fracture, therapist):
    rows = fracture.history.count()
    with pytest.raises(ValidationError) as excinfo:
        patient_update(
            patient=fracture, by=therapist, **details(fracture, requires_clearance=False)
        )
    message = excinfo.value.message_dict["requires_clearance"][0]
    assert "only a clearance note can end that" in message
    assert "no further clearance needed" in message
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert fracture.history.count() == rows  # nothing written


def test_the_service_keeps_the_requirements_reason_while_it_holds(fracture, therapist):
    patient_update(patient=fracture, by=therapist, **details(fracture, clearance_reason="a sprain"))
    fracture.refresh_from_db()
    assert fracture.clearance_reason == "pelvic fracture"


def test_a_stale_copy_cannot_turn_off_a_requirement_turned_on_meanwhile(patient, therapist):
    """A form loaded before a note turned the requirement on still sends "not required": the
    service decides on the stored row, read under the patient's lock, not on the caller's copy."""
    stale = type(patient).objects.get(pk=patient.pk)
    up_to_stage_2(patient, therapist)
    with pytest.raises(ValidationError) as excinfo:
        patient_update(patient=stale, by=therapist, **details(stale, requires_clearance=False))
    assert (
        "only a clearance note can end that" in excinfo.value.message_dict["requires_clearance"][0]
    )
    patient.refresh_from_db()
    assert patient.requires_clearance


def test_turning_the_requirement_on_stays_one_click(patient, therapist):
    patient_update(
        patient=patient,
        by=therapist,
        **details(patient, requires_clearance=True, clearance_reason="hip replacement"),
    )
    patient.refresh_from_db()
    assert patient.requires_clearance
    assert clearance_status(patient, timezone.localdate()).state == ClearanceState.MISSING


def test_a_not_required_note_ends_the_requirement_and_the_history_says_on_whose_sign_off(
    fracture, therapist
):
    note = ending_note(fracture, therapist)
    fracture.refresh_from_db()
    assert not fracture.requires_clearance
    row = fracture.history.first()
    assert row.history_user == therapist
    assert row.history_change_reason.startswith(
        "Ended on the sign-off of Dr. Ada Osei (MD, orthopaedic trauma), signed"
    )
    assert note.history.get().history_user == therapist


@pytest.mark.parametrize(
    ("field", "value"),
    [("signed_by_name", ""), ("signed_by_credentials", ""), ("signed_on", None)],
)
def test_ending_without_a_signer_credentials_or_date_is_refused(fracture, therapist, field, value):
    with pytest.raises((ValidationError, TypeError)) as excinfo:
        ending_note(fracture, therapist, **{field: value})
    if isinstance(excinfo.value, ValidationError):
        assert field in excinfo.value.message_dict
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert not ClearanceNote.objects.exists()


def test_a_first_requirement_may_be_ended_by_a_sign_off_from_before_registration(
    fracture, therapist
):
    """The surgeon's letter often comes before the patient is registered here."""
    ending_note(fracture, therapist, signed_on=today(fracture) - 30 * DAY)
    fracture.refresh_from_db()
    assert not fracture.requires_clearance


def test_a_requirement_set_again_is_not_ended_by_a_sign_off_from_before(fracture, therapist):
    """Ended once, then required again (a new fall): a sign-off from between the two does not
    answer the new requirement."""
    ending_note(fracture, therapist, signed_on=today(fracture) - 10 * DAY)
    fracture.refresh_from_db()
    patient_update(
        patient=fracture,
        by=therapist,
        **details(fracture, requires_clearance=True, clearance_reason="a new fall"),
    )
    with pytest.raises(ValidationError) as excinfo:
        ending_note(fracture, therapist, signed_on=today(fracture) - 5 * DAY)
    message = excinfo.value.message_dict["signed_on"][0]
    assert message.startswith(f"Clearance was required again from {today(fracture):%d %b %Y}")
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert ClearanceNote.objects.count() == 1
    ending_note(fracture, therapist, signed_on=today(fracture))
    fracture.refresh_from_db()
    assert not fracture.requires_clearance


def test_an_ending_signed_before_a_note_already_recorded_is_refused(fracture, therapist):
    """A later note's limits are the medical team's latest word: an older "no further clearance
    needed" cannot overrule them."""
    limit = up_to_stage_2(fracture, therapist)
    with pytest.raises(ValidationError) as excinfo:
        ending_note(fracture, therapist, signed_on=today(fracture) - DAY)
    message = excinfo.value.message_dict["signed_on"][0]
    assert message.startswith(f"A note signed later ({today(fracture):%d %b %Y}, Dr. Ada Osei:")
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert list(ClearanceNote.objects.all()) == [limit]
    # Signed the same day as that note, or later, it ends the requirement.
    ending_note(fracture, therapist, signed_on=today(fracture))
    fracture.refresh_from_db()
    assert not fracture.requires_clearance


def test_ending_a_requirement_that_does_not_exist_is_refused(patient, therapist):
    with pytest.raises(ValidationError) as excinfo:
        ending_note(patient, therapist)
    assert "does not require clearance" in excinfo.value.message_dict["decision"][0]
    assert not ClearanceNote.objects.exists()


def test_a_note_that_ends_the_requirement_carries_no_review_date_limit_or_precaution(
    fracture, therapist
):
    with pytest.raises(ValidationError) as excinfo:
        ending_note(
            fracture,
            therapist,
            review_on=timezone.localdate() + 30 * DAY,
            max_stage=2,
            precautions=["no_internal_rotation"],
            operated_side="left",
        )
    errors = excinfo.value.message_dict
    assert {"review_on", "max_stage", "precautions"} <= set(errors)
    assert not ClearanceNote.objects.exists()


def test_any_other_note_needs_a_review_date(fracture, therapist):
    with pytest.raises(ValidationError) as excinfo:
        record_clearance(fracture, by=therapist, signed_on=timezone.localdate(), review_on=None)
    assert "review_on" in excinfo.value.message_dict


def test_a_requirement_set_again_after_it_ended_needs_a_new_note(fracture, therapist):
    ending_note(fracture, therapist)
    fracture.refresh_from_db()
    patient_update(
        patient=fracture,
        by=therapist,
        **details(fracture, requires_clearance=True, clearance_reason="a new fall"),
    )
    fracture.refresh_from_db()
    status = clearance_status(fracture, timezone.localdate())
    assert status.state == ClearanceState.MISSING
    assert "required again" in status.summary


def test_the_post_fracture_patient_cannot_be_advanced_past_their_note_after_an_edit(
    fracture, therapist
):
    """The reported hole: untick the requirement, then advance 2 → 3 → 4 past a note that allowed
    stage 2. The untick is refused, so the gate still holds at each advance."""
    record_clearance(
        fracture,
        by=therapist,
        signed_on=timezone.localdate() - 10 * DAY,
        review_on=timezone.localdate() + 60 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
        today=timezone.localdate() - 10 * DAY,
    )
    rx = prescription_start(patient=fracture, side="left", stage=stage(2), by=therapist)
    with pytest.raises(ValidationError):
        patient_update(
            patient=fracture, by=therapist, **details(fracture, requires_clearance=False)
        )
    fracture.refresh_from_db()
    with pytest.raises(ClearanceRequired):
        prescription_advance(prescription=rx, by=therapist)


# -- the web edit form -----------------------------------------------------------------------------


def test_the_edit_form_shows_the_requirement_read_only_with_a_link_to_record_a_note(
    client, therapist, fracture
):
    client.force_login(therapist)
    page = client.get(reverse("patient-edit", args=[fracture.pk])).content.decode()
    assert 'name="requires_clearance"' not in page  # shown as text, not as an input
    assert "<strong>Needed before exercising</strong> (pelvic fracture)" in page
    assert "only the medical team's sign-off ends it" in page
    assert f'href="{reverse("patient-detail", args=[fracture.pk])}#clearance"' in page


def test_posting_the_edit_form_unticked_keeps_the_requirement(client, therapist, fracture):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-edit", args=[fracture.pk]),
        {
            "record_number": fracture.record_number,
            "first_name": fracture.first_name,
            "last_name": fracture.last_name,
            "date_of_birth": fracture.date_of_birth.isoformat(),
            "affected_side": fracture.affected_side,
            "requires_clearance": "",
            "clearance_reason": "",
            "primary_therapist": therapist.pk,
        },
    )
    assert response.status_code == 302
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert fracture.clearance_reason == "pelvic fracture"


def test_the_web_page_ends_the_requirement_with_a_signed_note(client, therapist, fracture):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[fracture.pk]),
        {
            "clearance-decision": Decision.NOT_REQUIRED,
            "clearance-reason": "Pelvic fracture: united on X-ray",
            "clearance-signed_by_name": "Dr. Ada Osei",
            "clearance-signed_by_credentials": "MD",
            "clearance-signed_on": today(fracture).isoformat(),
            "clearance-review_on": "",
            "clearance-weight_bearing": "full",
            "clearance-max_stage": "",
            "clearance-operated_side": "",
            "clearance-restrictions": "",
        },
    )
    assert response.status_code == 302
    fracture.refresh_from_db()
    assert not fracture.requires_clearance
    page = client.get(response.url).content.decode()
    assert "no longer needs medical clearance, on the sign-off of Dr. Ada Osei (MD)" in page


def test_the_web_page_refuses_an_ending_older_than_a_recorded_note_next_to_the_date(
    client, therapist, fracture
):
    limit = up_to_stage_2(fracture, therapist)
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[fracture.pk]),
        {
            "clearance-decision": Decision.NOT_REQUIRED,
            "clearance-reason": "Pelvic fracture: united on X-ray",
            "clearance-signed_by_name": "Dr. Ada Osei",
            "clearance-signed_by_credentials": "MD",
            "clearance-signed_on": (today(fracture) - DAY).isoformat(),
            "clearance-review_on": "",
            "clearance-weight_bearing": "full",
            "clearance-max_stage": "",
            "clearance-operated_side": "",
            "clearance-restrictions": "",
        },
    )
    assert response.status_code == 200
    form = response.context["clearance_form"]
    assert form.errors["signed_on"][0].startswith("A note signed later (")
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert list(ClearanceNote.objects.all()) == [limit]


def test_the_admin_refuses_an_ending_older_than_a_recorded_note(admin_client, therapist, fracture):
    limit = up_to_stage_2(fracture, therapist)
    response = admin_client.post(
        reverse("admin:patients_clearancenote_add"),
        {
            "patient": fracture.pk,
            "reason": "Pelvic fracture: united",
            "decision": Decision.NOT_REQUIRED,
            "weight_bearing": "full",
            "signed_by_name": "Dr. Sam Okafor",
            "signed_by_credentials": "MD",
            "signed_on": (today(fracture) - DAY).isoformat(),
            "review_on": "",
            "operated_side": "",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["signed_on"][0].startswith("A note signed later (")
    fracture.refresh_from_db()
    assert fracture.requires_clearance
    assert list(ClearanceNote.objects.all()) == [limit]


def test_the_web_page_refuses_ending_without_a_signer_and_names_the_field(
    client, therapist, fracture
):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-clearance-record", args=[fracture.pk]),
        {
            "clearance-decision": Decision.NOT_REQUIRED,
            "clearance-reason": "Pelvic fracture: united",
            "clearance-signed_by_name": "",
            "clearance-signed_by_credentials": "",
            "clearance-signed_on": "",
            "clearance-weight_bearing": "not_stated",
        },
    )
    assert response.status_code == 200
    form = response.context["clearance_form"]
    assert {"signed_by_name", "signed_by_credentials", "signed_on"} <= set(form.errors)
    fracture.refresh_from_db()
    assert fracture.requires_clearance


# -- the admin -------------------------------------------------------------------------------------


def test_the_admin_shows_the_requirement_read_only_with_a_link(admin_client, fracture):
    page = admin_client.get(reverse("admin:patients_patient_change", args=[fracture.pk]))
    text = page.content.decode()
    assert 'name="requires_clearance"' not in text
    assert reverse("admin:patients_clearancenote_add") + f"?patient={fracture.pk}" in text


def test_the_admin_cannot_untick_the_requirement(admin_client, fracture, therapist):
    response = admin_client.post(
        reverse("admin:patients_patient_change", args=[fracture.pk]),
        {
            "record_number": fracture.record_number,
            "first_name": fracture.first_name,
            "last_name": fracture.last_name,
            "date_of_birth": fracture.date_of_birth.isoformat(),
            "affected_side": fracture.affected_side,
            "primary_therapist": therapist.pk,
            "requires_clearance": "",
            "clearance_reason": "",
            "clearance_notes-TOTAL_FORMS": "0",
            "clearance_notes-INITIAL_FORMS": "0",
            "prescriptions-TOTAL_FORMS": "0",
            "prescriptions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    fracture.refresh_from_db()
    assert fracture.requires_clearance


def test_the_admin_ends_the_requirement_only_with_a_note(admin_client, admin_user, fracture):
    response = admin_client.post(
        reverse("admin:patients_clearancenote_add"),
        {
            "patient": fracture.pk,
            "reason": "Pelvic fracture: united",
            "decision": Decision.NOT_REQUIRED,
            "weight_bearing": "full",
            "signed_by_name": "Dr. Sam Okafor",
            "signed_by_credentials": "MD",
            "signed_on": today(fracture).isoformat(),
            "review_on": "",
            "operated_side": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    fracture.refresh_from_db()
    assert not fracture.requires_clearance
    assert fracture.history.first().history_user == admin_user
