"""Patient management: therapists create and edit patients and give them a login, within their
clinics. Staff change nothing (403); another clinic's therapist and patients find nothing (404)."""

import datetime as dt
import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from patients.models import Patient, Role
from patients.services import patient_update
from tests.factories import ClinicFactory, MembershipFactory, UserFactory


def text(response):
    return response.content.decode()


def field_errors(page, field):
    """The messages Django renders next to a field (`<ul class="errorlist" id="id_<field>_error">`)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", match[1])] if match else []


def patient_data(**overrides):
    return {
        "record_number": "RIV-0900",
        "first_name": "Ana",
        "last_name": "Silva",
        "date_of_birth": "1961-02-03",
        "affected_side": "right",
        "requires_clearance": "",
        "clearance_reason": "",
        "primary_therapist": "",
    } | overrides


# -- create ---------------------------------------------------------------------------------------


def test_the_create_form_has_a_label_for_every_input(client, therapist):
    client.force_login(therapist)
    page = text(client.get(reverse("patient-create")))
    assert "<title>New patient · Clamshell clinic</title>" in page
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page)
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
    assert ids and all(i in labelled for i in ids if not i.startswith("id_affected_side_")), ids
    assert "<legend>Affected side:</legend>" in page
    assert 'name="clinic"' not in page  # one clinic: nothing to choose


def test_a_therapist_creates_a_patient_in_their_clinic(client, clinic, therapist, colleague):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-create"),
        patient_data(
            primary_therapist=colleague.pk,
            requires_clearance="on",
            clearance_reason=" pelvic fracture ",
        ),
    )
    patient = Patient.objects.get(record_number="RIV-0900")
    assert response.status_code == 302
    assert response["Location"] == reverse("patient-detail", args=[patient.pk])
    assert (patient.clinic, patient.primary_therapist) == (clinic, colleague)
    assert (patient.requires_clearance, patient.clearance_reason) == (True, "pelvic fracture")
    assert patient.history.get().history_user == therapist
    page = text(client.get(response["Location"]))
    assert "Ana Silva added. Start a prescription on a side below." in page


def test_a_duplicate_record_number_is_refused_next_to_the_field(client, therapist, patient):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-create"), patient_data(record_number=patient.record_number)
    )
    assert response.status_code == 200
    assert field_errors(text(response), "record_number") == [
        f"Record number {patient.record_number} is already used by another patient of this clinic."
    ]
    assert 'value="Silva"' in text(response)  # the input is kept
    assert Patient.objects.count() == 1


def test_a_primary_therapist_from_another_clinic_is_refused(client, therapist, outsider):
    client.force_login(therapist)
    response = client.post(reverse("patient-create"), patient_data(primary_therapist=outsider.pk))
    assert field_errors(text(response), "primary_therapist") == [
        "Choose one of the clinic's therapists."
    ]
    assert not Patient.objects.exists()


def test_staff_cannot_be_the_primary_therapist(client, therapist, staff):
    client.force_login(therapist)
    page = text(client.get(reverse("patient-create")))
    assert f'<option value="{staff.pk}"' not in page
    response = client.post(reverse("patient-create"), patient_data(primary_therapist=staff.pk))
    assert field_errors(text(response), "primary_therapist")
    assert not Patient.objects.exists()


def test_requiring_clearance_needs_a_reason_next_to_the_field(client, therapist):
    client.force_login(therapist)
    response = client.post(reverse("patient-create"), patient_data(requires_clearance="on"))
    assert field_errors(text(response), "clearance_reason") == [
        "Give the reason clearance is required, e.g. pelvic fracture."
    ]
    assert not Patient.objects.exists()


def test_a_date_of_birth_in_the_future_is_refused_next_to_the_field(client, therapist):
    client.force_login(therapist)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    response = client.post(reverse("patient-create"), patient_data(date_of_birth=f"{tomorrow}"))
    assert field_errors(text(response), "date_of_birth") == [
        "Date of birth cannot be in the future."
    ]


def test_missing_fields_are_named(client, therapist):
    client.force_login(therapist)
    page = text(client.post(reverse("patient-create"), {}))
    for name in ("record_number", "first_name", "last_name", "date_of_birth", "affected_side"):
        assert field_errors(page, name) == ["This field is required."], name


@pytest.fixture
def two_clinic_therapist(clinic, therapist):
    """Works at Riverside and at a second clinic, Northgate, where Noor is the other therapist."""
    northgate = ClinicFactory(name="Northgate Physio", slug="northgate")
    MembershipFactory(user=therapist, clinic=northgate, role=Role.THERAPIST)
    noor = MembershipFactory(
        clinic=northgate, role=Role.THERAPIST, user__username="noor", user__first_name="Noor"
    ).user
    return {"user": therapist, "northgate": northgate, "noor": noor}


def test_a_therapist_of_two_clinics_chooses_the_clinic(client, two_clinic_therapist):
    who = two_clinic_therapist
    client.force_login(who["user"])
    page = text(client.get(reverse("patient-create")))
    assert 'name="clinic"' in page and "Northgate Physio" in page
    assert '<optgroup label="Northgate Physio">' in page  # therapists grouped by clinic
    response = client.post(
        reverse("patient-create"),
        patient_data(clinic=who["northgate"].pk, primary_therapist=who["noor"].pk),
    )
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert (patient.clinic, patient.primary_therapist) == (who["northgate"], who["noor"])


def test_the_primary_therapist_must_work_in_the_chosen_clinic(client, clinic, two_clinic_therapist):
    who = two_clinic_therapist
    client.force_login(who["user"])
    response = client.post(
        reverse("patient-create"), patient_data(clinic=clinic.pk, primary_therapist=who["noor"].pk)
    )
    assert field_errors(text(response), "primary_therapist") == [
        "The primary therapist must be a therapist of this clinic."
    ]
    assert not Patient.objects.exists()


def test_a_clinic_where_the_user_is_only_staff_cannot_be_chosen(client, therapist, other_clinic):
    MembershipFactory(user=therapist, clinic=other_clinic, role=Role.STAFF)
    client.force_login(therapist)
    page = text(client.get(reverse("patient-create")))
    assert "Hillcrest" not in page
    client.post(reverse("patient-create"), patient_data(clinic=other_clinic.pk))
    assert not Patient.objects.filter(clinic=other_clinic).exists()


# -- edit -----------------------------------------------------------------------------------------


def test_the_edit_form_shows_the_patients_details(client, therapist, patient):
    client.force_login(therapist)
    page = text(client.get(reverse("patient-edit", args=[patient.pk])))
    assert "<title>Edit Maya Lindqvist · Clamshell clinic</title>" in page
    assert f'value="{patient.record_number}"' in page
    assert 'value="1970-05-17"' in page
    assert f'<option value="{therapist.pk}" selected>' in page


def test_a_therapist_edits_a_patient_and_the_history_keeps_before_and_after(
    client, therapist, colleague, patient
):
    client.force_login(colleague)
    response = client.post(
        reverse("patient-edit", args=[patient.pk]),
        patient_data(
            record_number=patient.record_number,
            first_name="Maja",
            last_name=patient.last_name,
            date_of_birth="1970-05-17",
            affected_side="both",
            primary_therapist=colleague.pk,
        ),
        follow=True,
    )
    assert "Maja Lindqvist&#x27;s details saved." in text(response)
    patient.refresh_from_db()
    assert (patient.first_name, patient.affected_side, patient.primary_therapist) == (
        "Maja",
        "both",
        colleague,
    )
    newest, oldest = patient.history.all()[:2]
    assert newest.history_user == colleague
    assert sorted(c.field for c in newest.diff_against(oldest).changes) == [
        "affected_side",
        "first_name",
        "primary_therapist",
    ]


def test_editing_to_another_patients_record_number_is_refused(
    client, therapist, patient, other_patient
):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-edit", args=[patient.pk]),
        patient_data(record_number=other_patient.record_number, first_name="Changed"),
    )
    page = text(response)
    assert field_errors(page, "record_number")
    assert "<h1>Edit Maya Lindqvist</h1>" in page  # the stored name, not the refused one
    patient.refresh_from_db()
    assert patient.first_name == "Maya"


def test_the_update_service_leaves_the_object_as_stored_when_it_refuses(
    therapist, patient, other_patient
):
    with pytest.raises(Exception) as excinfo:
        patient_update(
            patient=patient,
            record_number=other_patient.record_number,
            first_name="X",
            last_name="Y",
            date_of_birth=patient.date_of_birth,
            affected_side="left",
            primary_therapist=therapist,
            requires_clearance=False,
            clearance_reason="",
            by=therapist,
        )
    assert "record_number" in excinfo.value.message_dict
    assert patient.first_name == "Maya"
    assert patient.history.count() == 1


# -- login ----------------------------------------------------------------------------------------


@pytest.fixture
def newcomer(clinic, therapist):
    from patients.services import patient_create

    return patient_create(
        clinic=clinic,
        record_number="RIV-0777",
        first_name="Lena",
        last_name="Park",
        date_of_birth=dt.date(1958, 8, 8),
        affected_side="left",
        primary_therapist=therapist,
        by=therapist,
    )


def test_the_login_form_suggests_a_username(client, therapist, newcomer):
    client.force_login(therapist)
    page = text(client.get(reverse("patient-login", args=[newcomer.pk])))
    assert 'value="lena.park"' in page
    assert "Your password must contain at least 12 characters." in page


def test_a_therapist_creates_a_patients_login(client, therapist, newcomer):
    client.force_login(therapist)
    password = "clamshell-ladder-42"
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {"username": "lena.park", "password": password, "password_confirm": password},
        follow=True,
    )
    assert "Login created for Lena Park: username lena.park." in text(response)
    newcomer.refresh_from_db()
    assert newcomer.user.username == "lena.park"
    assert newcomer.user.check_password(password)
    signed_in = Client().post(reverse("login"), {"username": "lena.park", "password": password})
    assert signed_in.status_code == 302


def test_a_weak_password_is_refused_with_the_validators_messages(client, therapist, newcomer):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {"username": "lena.park", "password": "12345", "password_confirm": "12345"},
    )
    errors = field_errors(text(response), "password")
    assert "This password is too short. It must contain at least 12 characters." in errors
    assert "This password is entirely numeric." in errors
    assert 'value="lena.park"' in text(response)
    newcomer.refresh_from_db()
    assert newcomer.user is None
    assert not get_user_model().objects.filter(username="lena.park").exists()


def test_a_password_like_the_username_is_refused(client, therapist, newcomer):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {
            "username": "lena.park2026",
            "password": "lena.park2026",
            "password_confirm": "lena.park2026",
        },
    )
    assert "The password is too similar to the username." in field_errors(
        text(response), "password"
    )


def test_the_two_passwords_must_match(client, therapist, newcomer):
    client.force_login(therapist)
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {"username": "lena", "password": "clamshell-ladder-42", "password_confirm": "clamshell-42"},
    )
    assert field_errors(text(response), "password_confirm") == [
        "The two passwords differ; type the same one twice."
    ]


def test_a_taken_username_is_refused_next_to_the_field(client, therapist, newcomer):
    UserFactory(username="lena.park")
    client.force_login(therapist)
    response = client.post(
        reverse("patient-login", args=[newcomer.pk]),
        {
            "username": "lena.park",
            "password": "clamshell-ladder-42",
            "password_confirm": "clamshell-ladder-42",
        },
    )
    assert field_errors(text(response), "username") == ["A user with that username already exists."]


def test_a_patient_with_a_login_gets_no_second_one(client, therapist, patient):
    client.force_login(therapist)
    page = text(client.get(reverse("patient-login", args=[patient.pk])))
    assert "already has a login: <strong>maya</strong>" in page
    assert '<form method="post" novalidate>' not in page
    response = client.post(
        reverse("patient-login", args=[patient.pk]),
        {
            "username": "maya2",
            "password": "clamshell-ladder-42",
            "password_confirm": "clamshell-ladder-42",
        },
    )
    assert "This patient already has a login." in text(response)
    assert not get_user_model().objects.filter(username="maya2").exists()


# -- roles at the door ----------------------------------------------------------------------------


def pages(patient):
    return [
        reverse("patient-edit", args=[patient.pk]),
        reverse("patient-login", args=[patient.pk]),
    ]


@pytest.mark.parametrize("who", ["therapist", "colleague"])
def test_the_clinics_therapists_reach_every_page(request, client, patient, who):
    client.force_login(request.getfixturevalue(who))
    for url in [reverse("patient-create"), *pages(patient)]:
        assert client.get(url).status_code == 200, url


def test_staff_change_nothing(client, staff, patient):
    client.force_login(staff)
    for url in [reverse("patient-create"), *pages(patient)]:
        assert client.get(url).status_code == 403, url
        assert client.post(url, patient_data()).status_code == 403, url
    assert Patient.objects.count() == 1


def test_an_outsider_finds_nothing_of_another_clinic(client, outsider, patient):
    client.force_login(outsider)
    for url in pages(patient):
        assert client.get(url).status_code == 404, url
        assert client.post(url, patient_data(first_name="Hacked")).status_code == 404, url
    patient.refresh_from_db()
    assert patient.first_name == "Maya"


def test_an_outsider_creates_patients_only_in_their_own_clinic(client, outsider, other_clinic):
    client.force_login(outsider)
    assert client.post(reverse("patient-create"), patient_data()).status_code == 302
    assert Patient.objects.get().clinic == other_clinic


def test_patients_never_reach_these_pages(client, patient):
    client.force_login(patient.user)
    assert client.get(reverse("patient-create")).status_code == 403
    for url in pages(patient):
        assert client.get(url).status_code == 404, url
        assert client.post(url, patient_data()).status_code == 404, url


def test_anonymous_users_are_sent_to_sign_in(client, patient):
    for url in [reverse("patient-create"), *pages(patient)]:
        for response in (client.get(url), client.post(url, patient_data())):
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))


def test_a_post_without_the_csrf_token_is_refused(therapist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(therapist)
    assert client.post(reverse("patient-create"), patient_data()).status_code == 403
    assert not Patient.objects.exists()
    page = text(client.get(reverse("patient-create")))
    assert "csrfmiddlewaretoken" in page
