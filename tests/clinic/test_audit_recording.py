"""Views and exports of patient data are recorded: one `AccessEvent` per successful request.

The cast: the patient's therapist and staff of the clinic (who read), an outsider (a therapist of
another clinic), the patient themselves and anonymous users (who are refused, and leave no event).
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exercises.services import prescription_start
from patients.access_events import record_access
from patients.models import AccessAction, AccessEvent
from patients.services import patient_login_set_active
from tests.api.helpers import client_for
from tests.factories import SetLogFactory, stage


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


def fhir(patient):
    return f"/api/v1/patients/{patient.pk}/fhir/"


def only_event():
    [event] = AccessEvent.objects.all()
    return event


# -- each recording point records exactly one event ----------------------------------------------


# (name, url, expected action, whether the event names the patient)
def recording_points(patient):
    detail = reverse("patient-detail", args=[patient.pk])
    report = reverse("patient-report", args=[patient.pk])
    return {
        "patient page": (detail, AccessAction.PATIENT_PAGE, True),
        "progression report": (report, AccessAction.PATIENT_REPORT, True),
        "progression report CSV": (
            report + "?format=csv&table=sets",
            AccessAction.PATIENT_REPORT_CSV,
            True,
        ),
        "audit history": (
            reverse("patient-history", args=[patient.pk]),
            AccessAction.PATIENT_HISTORY,
            True,
        ),
        "FHIR export": (fhir(patient), AccessAction.FHIR_EXPORT, True),
        "clinic report CSV": (
            reverse("reports") + "?format=csv&table=windows",
            AccessAction.CLINIC_REPORT_CSV,
            False,
        ),
        "clinic access log": (reverse("access-log"), AccessAction.CLINIC_ACCESS_LOG, False),
    }


POINTS = [
    "patient page",
    "progression report",
    "progression report CSV",
    "audit history",
    "FHIR export",
    "clinic report CSV",
    "clinic access log",
]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("who", ["therapist", "staff"])
def test_each_view_and_export_records_one_event(request, client, scene, clinic, point, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    url, action, names_patient = recording_points(scene)[point]

    assert client.get(url).status_code == 200

    event = only_event()
    assert (event.user, event.username, event.action) == (user, user.username, action)
    assert event.clinic == clinic
    assert event.patient == (scene if names_patient else None)
    assert event.at <= timezone.now()


def test_the_fhir_export_with_a_token_is_recorded_too(scene, staff):
    assert client_for(staff).get(fhir(scene)).status_code == 200
    event = only_event()
    assert (event.user, event.action, event.patient) == (staff, AccessAction.FHIR_EXPORT, scene)


def test_the_detail_names_the_table_and_the_period_never_a_name(client, scene, therapist):
    client.force_login(therapist)
    url = reverse("patient-report", args=[scene.pk])
    client.get(url + "?from=2026-01-05&to=2026-02-01&format=csv&table=sets")
    assert only_event().detail == "sets, 2026-01-05 to 2026-02-01"
    AccessEvent.objects.all().delete()

    client.get(url + "?from=2026-01-05&to=2026-02-01")
    assert only_event().detail == "2026-01-05 to 2026-02-01"
    assert scene.last_name not in only_event().detail


def test_the_history_filter_is_the_detail_of_its_view(client, scene, therapist):
    client.force_login(therapist)
    client.get(reverse("patient-history", args=[scene.pk]) + "?show=views")
    assert only_event().detail == "Views and exports only"


# -- the htmx partial of the sets ----------------------------------------------------------------


def sets_partial(client, patient, query=""):
    """The sets section alone, as the patient page's pager asks for it (no page load needed)."""
    return client.get(
        reverse("patient-detail", args=[patient.pk]) + query,
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="logs",
    )


@pytest.mark.parametrize("who", ["therapist", "staff"])
def test_the_htmx_partial_of_the_sets_is_a_view_with_the_page_shown(request, client, scene, who):
    user = request.getfixturevalue(who)
    SetLogFactory.create_batch(24, prescription=scene.prescriptions.get(), logged_by=user)
    client.force_login(user)

    response = sets_partial(client, scene, "?page=2")

    assert response.status_code == 200 and "<html" not in response.content.decode()
    event = only_event()
    assert (event.user, event.action, event.patient) == (user, AccessAction.PATIENT_PAGE, scene)
    assert event.detail == "sets, page 2 of 2"


def test_the_htmx_partial_names_the_page_it_showed_not_the_one_typed(client, scene, therapist):
    client.force_login(therapist)
    assert sets_partial(client, scene, "?page=<b>99</b>").status_code == 200
    assert only_event().detail == "sets, page 1 of 1"


def test_the_htmx_partial_costs_one_insert_however_many_sets(client, scene, therapist):
    client.force_login(therapist)
    sets_partial(client, scene)  # the session's first request may write it: not this view's cost

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert sets_partial(client, scene).status_code == 200
        return [q["sql"] for q in captured]

    few = queries()
    SetLogFactory.create_batch(45, prescription=scene.prescriptions.get(), logged_by=therapist)
    many = queries()
    assert len(few) == len(many)
    [insert] = [sql for sql in many if sql.startswith("INSERT")]
    assert "accessevent" in insert


@pytest.mark.parametrize("who", ["outsider", "the patient"])
def test_the_htmx_partial_refuses_an_outsider_and_the_patient_and_records_nothing(
    request, client, scene, who
):
    user = request.getfixturevalue("outsider") if who == "outsider" else scene.user
    client.force_login(user)
    assert sets_partial(client, scene).status_code == 404
    assert not AccessEvent.objects.exists()


def test_the_htmx_partial_sends_anonymous_users_to_sign_in(client, scene):
    assert sets_partial(client, scene).status_code == 302
    assert not AccessEvent.objects.exists()


# -- a patient's login disabled or enabled again ---------------------------------------------------


def login_page(patient):
    return reverse("patient-login", args=[patient.pk])


def test_disabling_and_enabling_a_login_records_who_and_when(client, scene, therapist, clinic):
    client.force_login(therapist)
    before = timezone.now()

    assert client.post(login_page(scene), {"active": "0"}).status_code == 302
    assert client.post(login_page(scene), {"active": "1"}).status_code == 302

    enabled, disabled = AccessEvent.objects.newest_first()
    assert [disabled.action, enabled.action] == [
        AccessAction.LOGIN_DISABLED,
        AccessAction.LOGIN_ENABLED,
    ]
    for event in (disabled, enabled):
        assert (event.user, event.username, event.patient, event.clinic) == (
            therapist,
            therapist.username,
            scene,
            clinic,
        )
        assert before <= event.at <= timezone.now()
        assert event.detail == ""  # never the username: it often holds the patient's name


def test_asking_for_the_state_a_login_is_in_records_nothing(client, scene, therapist):
    client.force_login(therapist)
    client.post(login_page(scene), {"active": "1"})  # already enabled
    assert not AccessEvent.objects.exists()
    patient_login_set_active(patient=scene, active=False, by=therapist)
    patient_login_set_active(patient=scene, active=False, by=therapist)
    assert AccessEvent.objects.count() == 1


def test_a_refused_login_change_records_nothing(client, scene, staff, outsider):
    client.force_login(staff)
    assert client.post(login_page(scene), {"active": "0"}).status_code == 403
    client.force_login(outsider)
    assert client.post(login_page(scene), {"active": "0"}).status_code == 404
    client.force_login(scene.user)
    assert client.post(login_page(scene), {"active": "0"}).status_code == 404
    scene.user.refresh_from_db()
    assert scene.user.is_active
    assert not AccessEvent.objects.exists()


def test_a_login_change_needs_to_know_who_made_it(scene):
    # `by` has no default: a change nobody is named for would leave the trail silent.
    with pytest.raises(TypeError):
        patient_login_set_active(patient=scene, active=False)  # type: ignore[call-arg]  # the point
    scene.user.refresh_from_db()
    assert scene.user.is_active


# -- what is not recorded ------------------------------------------------------------------------


def test_the_page_shown_again_after_a_refused_action_is_not_a_new_view(client, scene, therapist):
    client.force_login(therapist)
    response = client.post(reverse("patient-set-log", args=[scene.pk]), {"log-reps": "many"})
    assert response.status_code == 200  # the page again, with the form's errors
    assert not AccessEvent.objects.exists()


def test_the_clinic_reports_page_itself_is_not_recorded(client, scene, staff):
    client.force_login(staff)
    assert client.get(reverse("reports")).status_code == 200
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["?format=csv&table=nonsense", "?format=csv&from=2026-13-01", "?from=tomorrow"],
    ids=["unknown table", "bad date (CSV)", "bad date (page)"],
)
def test_a_bad_report_request_shows_nothing_and_records_nothing(client, scene, therapist, query):
    client.force_login(therapist)
    response = client.get(reverse("patient-report", args=[scene.pk]) + query)
    assert response.status_code == 400
    assert not AccessEvent.objects.exists()


def test_an_unknown_clinic_report_table_records_nothing(client, scene, staff):
    client.force_login(staff)
    assert client.get(reverse("reports") + "?format=csv&table=nonsense").status_code == 400
    assert not AccessEvent.objects.exists()


# -- refused requests record nothing -------------------------------------------------------------


PATIENT_POINTS = ["patient page", "progression report", "audit history", "FHIR export"]


@pytest.mark.parametrize("point", PATIENT_POINTS)
@pytest.mark.parametrize("who", ["outsider", "the patient"])
def test_an_outsider_and_the_patient_are_refused_and_leave_no_event(
    request, client, scene, point, who
):
    user = request.getfixturevalue("outsider") if who == "outsider" else scene.user
    client.force_login(user)
    url, _, _ = recording_points(scene)[point]
    assert client.get(url).status_code in (403, 404)
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize("point", POINTS)
def test_anonymous_users_are_refused_and_leave_no_event(client, scene, point):
    url, _, _ = recording_points(scene)[point]
    assert client.get(url).status_code in (302, 401)
    assert not AccessEvent.objects.exists()


# -- the service ---------------------------------------------------------------------------------


def test_recording_costs_one_insert(django_assert_num_queries, patient, therapist):
    with django_assert_num_queries(1):
        record_access(user=therapist, action=AccessAction.PATIENT_PAGE, patient=patient)


def test_an_event_takes_the_patients_clinic(patient, therapist, clinic):
    event = record_access(user=therapist, action=AccessAction.PATIENT_PAGE, patient=patient)
    assert event.clinic_id == clinic.pk


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patient": None, "clinic": None}, "Give the patient"),
        ({"clinic": "other"}, "another clinic"),
        ({"action": "edited"}, "Unknown access action"),
        ({"detail": "x" * 201}, "longer than 200"),
    ],
    ids=["no patient or clinic", "clinic mismatch", "unknown action", "long detail"],
)
def test_misuse_is_refused_and_writes_nothing(patient, therapist, other_clinic, kwargs, message):
    if kwargs.get("clinic") == "other":
        kwargs["clinic"] = other_clinic
    call = {"user": therapist, "action": AccessAction.PATIENT_PAGE, "patient": patient} | kwargs
    with pytest.raises(ValueError, match=message):
        record_access(**call)
    assert not AccessEvent.objects.exists()


def test_an_anonymous_access_cannot_be_recorded(patient):
    with pytest.raises(ValueError, match="signed-in"):
        record_access(user=AnonymousUser(), action=AccessAction.PATIENT_PAGE, patient=patient)


def test_the_username_outlives_the_account(patient, clinic):
    temp = get_user_model().objects.create_user("locum", first_name="Lee", last_name="Locum")
    event = record_access(user=temp, action=AccessAction.PATIENT_PAGE, patient=patient)
    temp.delete()
    event.refresh_from_db()
    assert (event.user, event.username) == (None, "locum")
