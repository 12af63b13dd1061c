"""Audit rows cannot be edited through the app: not in the admin (even by a superuser), not by
any page. Change history is read through each record's "History" page in the admin, and views and
exports through the read-only access event admin."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import registered_models
from simple_history.utils import get_history_model_for_model

from exercises.services import prescription_start
from patients.access_events import record_access
from patients.models import AccessAction, AccessEvent, Membership
from tests.factories import ClearanceNoteFactory, SetLogFactory, stage


@pytest.fixture
def event(patient, therapist):
    return record_access(
        user=therapist, action=AccessAction.PATIENT_PAGE, patient=patient, detail="original"
    )


def event_url(view, *args):
    return reverse(f"admin:patients_accessevent_{view}", args=args)


def test_a_superuser_reads_the_access_events(admin_client, event):
    changelist = admin_client.get(event_url("changelist")).content.decode()
    assert "Viewed the patient page" in changelist
    page = admin_client.get(event_url("change", event.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # a view page, nothing to submit


def test_a_superuser_cannot_change_an_access_event(admin_client, event, therapist, patient):
    response = admin_client.post(
        event_url("change", event.pk),
        {
            "at_0": "2020-01-01",
            "at_1": "00:00:00",
            "username": "someone-else",
            "clinic": patient.clinic_id,
            "patient": patient.pk,
            "action": AccessAction.PATIENT_REPORT,
            "detail": "edited",
        },
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert (event.username, event.detail, event.action) == (
        therapist.username,
        "original",
        AccessAction.PATIENT_PAGE,
    )


def test_a_superuser_cannot_delete_or_add_an_access_event(admin_client, event, patient):
    assert admin_client.get(event_url("delete", event.pk)).status_code == 403
    assert admin_client.post(event_url("delete", event.pk), {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        event_url("changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)  # the changelist says "no action selected"
    assert admin_client.get(event_url("add")).status_code == 403
    assert admin_client.post(event_url("add"), {"detail": "forged"}).status_code == 403
    assert list(AccessEvent.objects.values_list("detail", flat=True)) == ["original"]


def historical_models():
    return sorted(
        (get_history_model_for_model(model) for model in registered_models.values()),
        key=lambda m: m._meta.label,
    )


def test_every_audited_model_has_a_history_table_and_none_is_in_the_admin():
    labels = {m._meta.label for m in historical_models()}
    assert {
        "patients.HistoricalPatient",
        "patients.HistoricalClearanceNote",
        "patients.HistoricalMembership",
        "exercises.HistoricalPrescription",
        "exercises.HistoricalStageChange",
        "exercises.HistoricalSetLog",
    } <= labels
    # Not registered: no add, change or delete page exists for any history row.
    registered = [m for m in historical_models() if admin.site.is_registered(m)]
    assert registered == []


@pytest.fixture
def audited_objects(patient, therapist):
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
    )
    logged = SetLogFactory(prescription=rx, logged_by=therapist)
    return [patient, rx, logged, rx.stage_changes.get(), Membership.objects.get(user=therapist)]


def test_every_history_admin_has_revert_disabled(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    history_admins = [a for a in admin.site._registry.values() if isinstance(a, SimpleHistoryAdmin)]
    assert len(history_admins) >= 6
    for model_admin in history_admins:
        assert model_admin.revert_disabled(request), model_admin


def test_a_superuser_cannot_revert_any_record_from_its_history(admin_client, audited_objects):
    for obj in audited_objects:
        opts = obj._meta
        version = obj.history.earliest()
        before = obj.history.count()
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_simple_history",
            args=[obj.pk, version.history_id],
        )
        assert admin_client.get(url).status_code == 200, opts.label
        assert admin_client.post(url, {}).status_code == 403, opts.label
        assert obj.history.count() == before, opts.label


def test_no_page_of_the_app_writes_the_audit_trail(client, therapist, patient):
    client.force_login(therapist)
    for url in (reverse("patient-history", args=[patient.pk]), reverse("access-log")):
        assert client.post(url, {"detail": "forged"}).status_code == 405
        assert client.delete(url).status_code == 405
    assert not AccessEvent.objects.exists()


# -- an admin's reads and changes of logins ------------------------------------------------------


def change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def patient_records(patient, therapist):
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=3),
    )
    return {
        "patient": patient,
        "clearance note": ClearanceNoteFactory(patient=patient, recorded_by=therapist),
        "prescription": rx,
        "stage change": rx.stage_changes.get(),
        "set log": SetLogFactory(prescription=rx, logged_by=therapist),
    }


@pytest.mark.parametrize(
    "name", ["patient", "clearance note", "prescription", "stage change", "set log"]
)
def test_opening_a_patients_record_in_the_admin_is_a_recorded_view(
    admin_client, admin_user, patient_records, patient, clinic, name
):
    obj = patient_records[name]

    assert admin_client.get(change_url(obj)).status_code == 200

    [event] = AccessEvent.objects.all()
    assert (event.user, event.action, event.patient, event.clinic) == (
        admin_user,
        AccessAction.ADMIN_VIEW,
        patient,
        clinic,
    )
    assert event.detail == f"{name} #{obj.pk}"


def test_saving_in_the_admin_is_a_change_not_a_view(admin_client, patient):
    # A POST that fails validation shows the form again: nothing new was read.
    response = admin_client.post(change_url(patient), {"first_name": ""})
    assert response.status_code == 200
    assert not AccessEvent.objects.exists()


def test_a_missing_record_or_a_record_of_no_patient_records_nothing(admin_client, therapist):
    missing = reverse("admin:patients_patient_change", args=[999_999])
    assert admin_client.get(missing).status_code == 302
    assert admin_client.get(change_url(Membership.objects.get(user=therapist))).status_code == 200
    assert not AccessEvent.objects.exists()


def test_a_staff_member_without_admin_rights_is_refused_and_leaves_no_event(client, staff, patient):
    client.force_login(staff)
    assert client.get(change_url(patient)).status_code == 302  # to the admin's sign-in
    assert not AccessEvent.objects.exists()


def test_an_admin_disabling_a_login_is_in_the_admins_log(admin_client, admin_user, patient):
    # The user form saves the user itself, with no service in between: who did it is in Django's
    # admin log (docs/audit.md), which the receiver revoking tokens cannot know.
    user = patient.user
    response = admin_client.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "date_joined_0": f"{user.date_joined:%Y-%m-%d}",
            "date_joined_1": f"{user.date_joined:%H:%M:%S}",
            # "is_active" left out: the box unticked
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert not user.is_active
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert entry.user == admin_user and entry.action_flag == CHANGE
    assert "Active" in entry.get_change_message()
