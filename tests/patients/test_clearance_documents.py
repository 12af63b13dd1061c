"""The scanned copy of a clearance sign-off: accepted by its content (PDF, JPEG, PNG, at most
10 MB), stored through Django's storage API, served only to the patient's care team, and every
opening recorded."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from patients.documents import DOCUMENT_MAX_BYTES
from patients.models import AccessAction, AccessEvent, ClearanceNote, Decision, Role
from tests.factories import MembershipFactory, image_scan, pdf_scan, record_clearance

DAY = dt.timedelta(days=1)


def stored_files() -> set[str]:
    storage = storages["private"]
    return set(storage.listdir("clearance")[1]) if storage.exists("clearance") else set()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def note_with(patient, by, document):
    today = timezone.localdate()
    return record_clearance(
        patient,
        by=by,
        signed_on=today - DAY,
        review_on=today + 60 * DAY,
        today=today,
        document=document,
    )


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("sign-off.pdf", pdf_scan(), "application/pdf"),
        ("scan.jpg", image_scan("JPEG"), "image/jpeg"),
        ("scan.png", image_scan("PNG"), "image/png"),
        # The name does not decide: a PNG called .pdf is stored as what it is.
        ("misnamed.pdf", image_scan("PNG"), "image/png"),
    ],
)
def test_a_pdf_jpeg_or_png_is_stored_as_what_its_content_is(fracture, therapist, name, data, kind):
    note = note_with(fracture, therapist, upload(name, data))
    note.refresh_from_db()
    assert note.document_type == kind
    assert note.document_name == name
    # Stored under a random name in the private storage, never the uploaded name.
    assert note.document.name.startswith("clearance/")
    assert name.rsplit(".", 1)[0] not in note.document.name
    with storages["private"].open(note.document.name) as stored:
        assert stored.read() == data


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("scan.gif", image_scan("GIF"), "is a GIF image"),
        ("notes.pdf", b"not a pdf at all, just text", "not a PDF, JPEG or PNG"),
        ("broken.pdf", b"%PDF-1.7\n garbage", "cannot be read as one"),
        ("empty.png", b"", "empty"),
    ],
)
def test_anything_else_is_refused_whatever_its_name_and_nothing_is_saved(
    fracture, therapist, name, data, said
):
    before = stored_files()
    with pytest.raises(ValidationError) as excinfo:
        note_with(fracture, therapist, upload(name, data, "application/pdf"))
    assert said in " ".join(excinfo.value.message_dict["document"])
    assert not ClearanceNote.objects.exists()
    assert stored_files() == before


def test_a_file_over_10_mb_is_refused(fracture, therapist):
    big = pdf_scan() + b"\0" * (DOCUMENT_MAX_BYTES)
    with pytest.raises(ValidationError) as excinfo:
        note_with(fracture, therapist, upload("big.pdf", big))
    assert (
        "must be a PDF, JPEG or PNG file of at most 10 MB"
        in excinfo.value.message_dict["document"][0]
    )
    assert not ClearanceNote.objects.exists()


def test_the_web_form_uploads_the_scan(client, therapist, fracture):
    client.force_login(therapist)
    today = timezone.localdate()
    response = client.post(
        reverse("patient-clearance-record", args=[fracture.pk]),
        {
            "clearance-decision": Decision.CLEARED,
            "clearance-reason": "Pelvic fracture",
            "clearance-signed_by_name": "Dr. Ada Osei",
            "clearance-signed_by_credentials": "MD",
            "clearance-signed_on": (today - DAY).isoformat(),
            "clearance-review_on": (today + 60 * DAY).isoformat(),
            "clearance-weight_bearing": "full",
            "clearance-document": upload("osei.pdf", pdf_scan()),
        },
    )
    assert response.status_code == 302
    note = ClearanceNote.objects.get()
    assert note.document_type == "application/pdf"
    page = client.get(reverse("patient-detail", args=[fracture.pk])).content.decode()
    assert reverse("patient-clearance-document", args=[fracture.pk, note.pk]) in page
    assert "osei.pdf" in page


def test_the_web_form_refuses_a_file_that_is_not_a_scan_next_to_the_field(
    client, therapist, fracture
):
    client.force_login(therapist)
    today = timezone.localdate()
    response = client.post(
        reverse("patient-clearance-record", args=[fracture.pk]),
        {
            "clearance-decision": Decision.CLEARED,
            "clearance-reason": "Pelvic fracture",
            "clearance-signed_by_name": "Dr. Ada Osei",
            "clearance-signed_by_credentials": "MD",
            "clearance-signed_on": (today - DAY).isoformat(),
            "clearance-review_on": (today + 60 * DAY).isoformat(),
            "clearance-weight_bearing": "full",
            "clearance-document": upload("virus.pdf", b"MZ\x90\x00 an executable"),
        },
    )
    assert response.status_code == 200
    errors = response.context["clearance_form"].errors["document"]
    assert "not a PDF, JPEG or PNG" in errors[0]
    assert not ClearanceNote.objects.exists()


# -- opening it ------------------------------------------------------------------------------------


@pytest.fixture
def scanned(fracture, therapist):
    return note_with(fracture, therapist, upload("osei.pdf", pdf_scan()))


def document_url(note):
    return reverse("patient-clearance-document", args=[note.patient_id, note.pk])


@pytest.mark.parametrize("who", ["therapist", "colleague", "staff"])
def test_the_care_team_opens_the_scan_and_the_opening_is_recorded(client, request, scanned, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.get(document_url(scanned))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert 'filename="osei.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == pdf_bytes_of(scanned)
    event = AccessEvent.objects.get(action=AccessAction.CLEARANCE_DOCUMENT)
    assert (event.user, event.patient) == (user, scanned.patient)
    assert event.detail == f"clearance note #{scanned.pk}"


def pdf_bytes_of(note):
    with storages["private"].open(note.document.name) as stored:
        return stored.read()


@pytest.mark.parametrize("who", ["outsider", "other_patient_user", "the_patient"])
def test_anyone_outside_the_care_team_gets_404_and_nothing_is_recorded(
    client, request, scanned, other_patient, who
):
    user = {
        "outsider": lambda: request.getfixturevalue("outsider"),
        "other_patient_user": lambda: other_patient.user,
        "the_patient": lambda: scanned.patient.user or other_patient.user,
    }[who]()
    client.force_login(user)
    assert client.get(document_url(scanned)).status_code == 404
    assert not AccessEvent.objects.filter(action=AccessAction.CLEARANCE_DOCUMENT).exists()


def test_anonymous_is_sent_to_sign_in(client, scanned):
    response = client.get(document_url(scanned))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_note_without_a_scan_has_nothing_to_open(client, therapist, fracture):
    today = timezone.localdate()
    plain = record_clearance(
        fracture, by=therapist, signed_on=today - DAY, review_on=today + 60 * DAY, today=today
    )
    client.force_login(therapist)
    assert client.get(document_url(plain)).status_code == 404


def test_the_admin_links_the_scan_through_the_recorded_view(admin_client, admin_user, scanned):
    MembershipFactory(user=admin_user, clinic=scanned.patient.clinic, role=Role.STAFF)
    page = admin_client.get(
        reverse("admin:patients_clearancenote_change", args=[scanned.pk])
    ).content.decode()
    assert f'<a href="{document_url(scanned)}">osei.pdf</a>' in page
    # The storage's own path has no URL and is never shown.
    assert scanned.document.name not in page


def test_an_admin_outside_the_care_team_sees_that_there_is_a_scan_but_no_link(
    admin_client, scanned
):
    page = admin_client.get(
        reverse("admin:patients_clearancenote_change", args=[scanned.pk])
    ).content.decode()
    assert "osei.pdf is attached. It opens only for" in page
    assert document_url(scanned) not in page
    assert scanned.document.name not in page
    assert admin_client.get(document_url(scanned)).status_code == 404
