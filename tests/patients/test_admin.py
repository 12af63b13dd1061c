"""The admin for clinics, memberships, patients and clearance notes.

It shows everything to a superuser, but creates patients and clearance notes through the services,
shows their errors on the form, never edits or deletes a recorded clearance note, and never reverts
anything from the audit history.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.models import ClearanceNote, Decision, Membership, Patient, Role
from tests.factories import (
    ClearanceNoteFactory,
    ClinicFactory,
    PatientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def url(model: str, view: str, *args: object) -> str:
    app = "exercises" if model in {"ladder", "stage", "prescription", "setlog"} else "patients"
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def management_data(response) -> dict[str, object]:
    """The inline formsets' management forms, as a browser posts them back unchanged."""
    data: dict[str, object] = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


def result_list(response) -> list:
    return list(response.context["cl"].result_list)


def action_names(response) -> set[str]:
    """The actions offered on a changelist (none at all when there is no action form)."""
    action_form = response.context["action_form"]
    return set(dict(action_form.fields["action"].choices)) if action_form else set()


def form_errors(response) -> dict[str, list[str]]:
    return response.context["adminform"].form.errors


def changelist_queries(client, changelist_url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist_url)
    assert response.status_code == 200
    return len(queries)


@pytest.fixture
def note(fracture, therapist):
    return ClearanceNoteFactory(
        patient=fracture, recorded_by=therapist, signed_by_name="Dr. Ada Osei"
    )


def patient_post_data(clinic, therapist, **overrides) -> dict[str, object]:
    data = {
        "clinic": clinic.pk,
        "record_number": "MRN-77",
        "first_name": "Lena",
        "last_name": "Berg",
        "date_of_birth": "1964-03-02",
        "affected_side": "right",
        "primary_therapist": therapist.pk,
        "clearance_reason": "",
    }
    return {**data, **overrides}


def note_post_data(patient, **overrides) -> dict[str, object]:
    today = timezone.localdate()
    data = {
        "patient": patient.pk,
        "reason": "Pelvic fracture, conservatively managed",
        "decision": Decision.CLEARED,
        "weight_bearing": "full",
        "max_stage": "",
        "restrictions": "",
        "signed_by_name": "Dr. Sam Okafor",
        "signed_by_credentials": "MD, orthopaedics",
        "signed_on": (today - dt.timedelta(days=2)).isoformat(),
        "review_on": (today + dt.timedelta(days=60)).isoformat(),
    }
    return {**data, **overrides}


# -- every page renders --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["clinic", "membership", "patient", "clearancenote"])
def test_every_changelist_and_add_page_renders(admin_client, patient, note, model):
    changelist = admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert len(result_list(changelist)) >= 1
    assert admin_client.get(url(model, "add")).status_code == 200


def test_every_change_page_renders(admin_client, clinic, therapist, patient, note):
    membership = Membership.objects.get(user=therapist, clinic=clinic)
    for model, obj in [
        ("clinic", clinic),
        ("membership", membership),
        ("patient", patient),
        ("patient", note.patient),
        ("clearancenote", note),
    ]:
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200, model


@pytest.mark.parametrize("model", ["membership", "patient", "clearancenote"])
def test_the_audit_history_is_one_click_away(admin_client, therapist, patient, note, model):
    obj = {
        "membership": Membership.objects.filter(user=therapist).first(),
        "patient": patient,
        "clearancenote": note,
    }[model]
    change_page = admin_client.get(url(model, "change", obj.pk))
    history_url = url(model, "history", obj.pk)
    assert history_url in change_page.content.decode()
    assert admin_client.get(history_url).status_code == 200


# -- patients ------------------------------------------------------------------------------------


def test_patient_search_finds_by_name_and_by_record_number(admin_client, patient, other_patient):
    by_name = admin_client.get(url("patient", "changelist"), {"q": "Lindqvist"})
    assert result_list(by_name) == [patient]

    by_number = admin_client.get(url("patient", "changelist"), {"q": other_patient.record_number})
    assert result_list(by_number) == [other_patient]


def test_patient_filters_by_clinic_and_by_status(
    admin_client, patient, other_patient, other_clinic
):
    elsewhere = PatientFactory(clinic=other_clinic)
    other_patient.discharged_at = timezone.now()
    other_patient.save()

    in_clinic = admin_client.get(
        url("patient", "changelist"), {"clinic__id__exact": patient.clinic_id}
    )
    assert set(result_list(in_clinic)) == {patient, other_patient}

    discharged = admin_client.get(url("patient", "changelist"), {"status": "discharged"})
    assert result_list(discharged) == [other_patient]

    active = admin_client.get(url("patient", "changelist"), {"status": "active"})
    assert set(result_list(active)) == {patient, elsewhere}


def test_the_patient_changelist_costs_the_same_queries_for_2_or_10_patients(
    admin_client, clinic, therapist
):
    def add_patients(n: int) -> None:
        for _ in range(n):
            gated = PatientFactory(
                clinic=clinic,
                primary_therapist=therapist,
                requires_clearance=True,
                clearance_reason="pelvic fracture",
            )
            ClearanceNoteFactory(patient=gated, recorded_by=therapist)
            PatientFactory(clinic=ClinicFactory(), primary_therapist=UserFactory())

    changelist = url("patient", "changelist")
    add_patients(1)
    admin_client.get(changelist)  # warm up caches (content types, session)
    with_two = changelist_queries(admin_client, changelist)
    add_patients(4)
    assert Patient.objects.count() == 10
    assert changelist_queries(admin_client, changelist) == with_two


def test_admin_adds_a_patient_and_records_who_did(admin_client, admin_user, clinic, therapist):
    response = admin_client.post(url("patient", "add"), patient_post_data(clinic, therapist))

    assert response.status_code == 302
    created = Patient.objects.get(record_number="MRN-77")
    assert (created.clinic, created.primary_therapist) == (clinic, therapist)
    assert created.history.get().history_user == admin_user


def test_admin_refuses_a_primary_therapist_from_another_clinic(admin_client, clinic, outsider):
    response = admin_client.post(url("patient", "add"), patient_post_data(clinic, outsider))

    assert response.status_code == 200
    assert form_errors(response)["primary_therapist"] == [
        "The primary therapist must be a therapist of this clinic."
    ]
    assert not Patient.objects.exists()


def test_admin_runs_the_models_own_validation_on_a_patient(admin_client, clinic, therapist):
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = admin_client.post(
        url("patient", "add"),
        patient_post_data(clinic, therapist, date_of_birth=future, requires_clearance="on"),
    )

    assert response.status_code == 200
    errors = form_errors(response)
    assert errors["date_of_birth"] == ["Date of birth cannot be in the future."]
    assert "Give the reason clearance is required." in errors["__all__"]
    assert not Patient.objects.exists()


def test_admin_changes_a_patient_and_the_history_shows_it(
    admin_client, admin_user, patient, therapist
):
    change_url = url("patient", "change", patient.pk)
    data = {
        **patient_post_data(
            patient.clinic,
            therapist,
            record_number=patient.record_number,
            first_name="Maja",
            last_name=patient.last_name,
            date_of_birth=patient.date_of_birth.isoformat(),
            affected_side=patient.affected_side,
        ),
        "user": patient.user_id,
        **management_data(admin_client.get(change_url)),
    }

    response = admin_client.post(change_url, data)

    assert response.status_code == 302, form_errors(response)
    patient.refresh_from_db()
    assert patient.first_name == "Maja"
    latest = patient.history.latest()
    assert latest.history_user == admin_user
    assert latest.diff_against(latest.prev_record).changed_fields == ["first_name"]


def test_the_patient_page_shows_the_clearance_status_today(admin_client, fracture):
    response = admin_client.get(url("patient", "change", fracture.pk))

    assert "Medical clearance required; none is recorded." in response.content.decode()


def test_a_patient_cannot_be_deleted(admin_client, patient):
    assert admin_client.get(url("patient", "delete", patient.pk)).status_code == 403
    assert "delete_selected" not in action_names(admin_client.get(url("patient", "changelist")))


# -- clearance notes -----------------------------------------------------------------------------


def test_admin_records_a_clearance_note_as_the_signed_in_user(admin_client, admin_user, fracture):
    response = admin_client.post(url("clearancenote", "add"), note_post_data(fracture))

    assert response.status_code == 302, form_errors(response)
    recorded = ClearanceNote.objects.get()
    assert (recorded.patient, recorded.signed_by_name) == (fracture, "Dr. Sam Okafor")
    assert recorded.recorded_by == admin_user
    assert recorded.history.get().history_user == admin_user


def test_admin_shows_the_services_refusal_of_a_note_signed_in_the_future(admin_client, fracture):
    tomorrow = timezone.localdate() + dt.timedelta(days=2)
    response = admin_client.post(
        url("clearancenote", "add"), note_post_data(fracture, signed_on=tomorrow.isoformat())
    )

    assert response.status_code == 200
    assert form_errors(response)["signed_on"] == ["A clearance cannot be signed in the future."]
    assert not ClearanceNote.objects.exists()
    assert not ClearanceNote.history.exists()


def test_admin_shows_the_models_checks_on_a_clearance_note(admin_client, fracture):
    today = timezone.localdate()
    response = admin_client.post(
        url("clearancenote", "add"),
        note_post_data(
            fracture,
            decision=Decision.RESTRICTED,
            weight_bearing="full",
            review_on=(today - dt.timedelta(days=5)).isoformat(),
        ),
    )

    assert response.status_code == 200
    errors = form_errors(response)
    assert errors["restrictions"] == ["A clearance with restrictions must say what they are."]
    assert errors["__all__"] == ["The review date cannot be before the date signed."]
    assert not ClearanceNote.objects.exists()


def test_a_recorded_clearance_note_is_never_edited(admin_client, note):
    change_url = url("clearancenote", "change", note.pk)
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    response = admin_client.post(change_url, note_post_data(note.patient, max_stage="1"))

    assert response.status_code == 403
    note.refresh_from_db()
    assert (note.max_stage, note.signed_by_name) == (None, "Dr. Ada Osei")


def test_a_clearance_note_cannot_be_deleted(admin_client, note):
    assert admin_client.get(url("clearancenote", "delete", note.pk)).status_code == 403
    assert "delete_selected" not in action_names(
        admin_client.get(url("clearancenote", "changelist"))
    )
    assert ClearanceNote.objects.filter(pk=note.pk).exists()


def test_a_clearance_note_cannot_be_reverted_from_its_history(admin_client, note):
    version = note.history.get()
    version_url = reverse(
        "admin:patients_clearancenote_simple_history", args=[note.pk, version.history_id]
    )
    assert admin_client.get(version_url).status_code == 200

    response = admin_client.post(version_url, note_post_data(note.patient, max_stage="1"))

    assert response.status_code == 403
    note.refresh_from_db()
    assert note.max_stage is None


def test_clearance_note_search_finds_the_signer_and_filters_by_decision(
    admin_client, note, patient, therapist
):
    refusal = ClearanceNoteFactory(
        patient=patient,
        recorded_by=therapist,
        decision=Decision.NOT_CLEARED,
        signed_by_name="Dr. Lee Wong",
    )
    changelist = url("clearancenote", "changelist")

    assert result_list(admin_client.get(changelist, {"q": "Osei"})) == [note]
    assert result_list(admin_client.get(changelist, {"q": "Duarte"})) == [note]
    not_cleared = admin_client.get(changelist, {"decision__exact": Decision.NOT_CLEARED})
    assert result_list(not_cleared) == [refusal]


# -- clinics and memberships ---------------------------------------------------------------------


def test_admin_adds_a_member_to_a_clinic_inline(admin_client, clinic, therapist):
    newcomer = UserFactory(username="newcomer")
    change_url = url("clinic", "change", clinic.pk)
    page = admin_client.get(change_url)
    data = {
        "name": clinic.name,
        "slug": clinic.slug,
        "timezone": clinic.timezone,
        "progress_at_reps": clinic.progress_at_reps,
        "pain_ceiling": clinic.pain_ceiling,
        "pain_alert_above": clinic.pain_alert_above,
        "pain_lookback_days": clinic.pain_lookback_days,
        "silent_days": clinic.silent_days,
        "review_soon_days": clinic.review_soon_days,
        "phone": "",
        **management_data(page),
    }
    existing = Membership.objects.get(clinic=clinic, user=therapist)
    data.update(
        {
            "memberships-0-id": existing.pk,
            "memberships-0-clinic": clinic.pk,
            "memberships-0-user": therapist.pk,
            "memberships-0-role": existing.role,
            "memberships-1-clinic": clinic.pk,
            "memberships-1-user": newcomer.pk,
            "memberships-1-role": Role.STAFF,
        }
    )

    response = admin_client.post(change_url, data)

    assert response.status_code == 302
    assert clinic.memberships.get(user=newcomer).role == Role.STAFF


def test_membership_search_and_filters(admin_client, clinic, therapist, staff, outsider):
    changelist = url("membership", "changelist")

    found = admin_client.get(changelist, {"q": "staffer"})
    assert [m.user for m in result_list(found)] == [staff]

    therapists = admin_client.get(
        changelist, {"clinic__id__exact": clinic.pk, "role__exact": Role.THERAPIST}
    )
    assert [m.user for m in result_list(therapists)] == [therapist]


# -- who may use the admin -----------------------------------------------------------------------


def test_a_clinic_user_who_is_not_staff_is_sent_to_the_admin_login(client, therapist):
    client.force_login(therapist)

    response = client.get(url("patient", "changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_staff_user_without_permissions_is_refused(client):
    clerk = get_user_model().objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)

    assert client.get(url("patient", "changelist")).status_code == 403
    assert client.get(url("clearancenote", "add")).status_code == 403


def test_admin_cannot_move_a_patient_to_another_clinic(
    admin_client, patient, therapist, other_clinic
):
    change_url = url("patient", "change", patient.pk)
    data = {
        **patient_post_data(
            other_clinic,
            therapist,
            record_number=patient.record_number,
            first_name=patient.first_name,
            last_name=patient.last_name,
            date_of_birth=patient.date_of_birth.isoformat(),
            affected_side=patient.affected_side,
        ),
        "user": patient.user_id,
        **management_data(admin_client.get(change_url)),
    }

    response = admin_client.post(change_url, data)

    assert response.status_code == 302, form_errors(response)
    patient.refresh_from_db()
    assert patient.clinic != other_clinic
