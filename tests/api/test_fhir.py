"""The per-patient FHIR export (`GET /api/v1/patients/<id>/fhir/`): a valid R4 Bundle (re-parsed
with fhir.resources' R4B models), references that resolve inside it, the right resources and codes,
stable ids, a fixed number of queries, and only the patient's care team let in."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from PIL import Image
from rest_framework.test import APIClient

from exercises.api.fhir import bundle_json, patient_bundle, resource_id
from exercises.models import PainOutcome, PainReview
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    patient_discharge,
    prescription_advance,
    prescription_start,
    set_log,
    set_void,
)
from patients.models import Decision, OperatedSide, WeightBearing
from patients.precautions import Precaution
from patients.services import clearance_note_record
from patients.thresholds import HIP_FLEXION_LIMIT_DEG
from tests.api.helpers import assert_error, client_for
from tests.factories import SetLogFactory, UserFactory, pdf_scan, record_clearance, stage

FHIR_JSON = "application/fhir+json"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
# The value sets of the status elements, from the FHIR R4 specification: the library checks
# structure but not codes, so the test does.
OBSERVATION_STATUS = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
REQUEST_STATUS = {
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
}
DOCUMENT_STATUS = {"current", "superseded", "entered-in-error"}


def url(pk: int) -> str:
    return f"/api/v1/patients/{pk}/fhir/"


def export(client: APIClient, pk: int) -> dict[str, Any]:
    response = client.get(url(pk))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == FHIR_JSON
    return json.loads(response.content)


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def urn(resource_type: str, pk: int) -> str:
    return f"urn:uuid:{resource_id(resource_type, pk)}"


def references(node: Any) -> Iterator[str]:
    """Every `reference` string anywhere in a JSON tree (a Reference's literal reference)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def component(observation: dict[str, Any], text: str) -> dict[str, Any]:
    return next(c for c in observation["component"] if c["code"].get("text") == text)


def log(patient, prescription, *, reps, pain, at, by, effort=None, note=""):
    return set_log(
        SetLogRequest(
            patient=patient,
            prescription=prescription,
            reps=reps,
            pain=pain,
            effort=effort,
            note=note,
            performed_at=at,
            client_id=uuid.uuid4(),
            by=by,
            source="app",
        )
    ).set_log


@pytest.fixture
def history(patient_requiring_clearance, therapist):
    """A patient recovering from a pelvic fracture, through the services as a clinic would do it:
    cleared up to stage 2, left side started at stage 1 and advanced to 2, a newer clearance with
    no stage limit, the right side started; five sets, one of them voided."""
    patient = patient_requiring_clearance
    now = timezone.now()
    today = patient.clinic.local_date(now)
    first_note = record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=25),
        review_on=today + dt.timedelta(days=60),
        decision=Decision.RESTRICTED,
        max_stage=2,
    )
    left_1 = prescription_start(
        patient=patient, side="left", stage=stage(1), by=therapist, at=now - dt.timedelta(days=20)
    )
    early = log(
        patient,
        left_1,
        reps=12,
        pain=2,
        effort=5,
        note="Felt steady.",
        at=now - dt.timedelta(days=19),
        by=therapist,
    )
    ready = log(patient, left_1, reps=20, pain=1, at=now - dt.timedelta(days=12), by=therapist)
    left_2 = prescription_advance(prescription=left_1, by=therapist, at=now - dt.timedelta(days=10))
    second_note = record_clearance(
        patient,
        by=therapist,
        signed_on=today - dt.timedelta(days=9),
        review_on=today + dt.timedelta(days=90),
    )
    right_1 = prescription_start(
        patient=patient, side="right", stage=stage(1), by=therapist, at=now - dt.timedelta(days=8)
    )
    on_2 = log(patient, left_2, reps=9, pain=3, at=now - dt.timedelta(days=2), by=therapist)
    right = log(patient, right_1, reps=14, pain=0, at=now - dt.timedelta(days=1), by=therapist)
    twice = log(patient, right_1, reps=14, pain=0, at=now - dt.timedelta(hours=20), by=therapist)
    set_void(set_log=twice, by=therapist, reason="Logged twice by mistake.")
    return {
        "patient": patient,
        "prescriptions": {"left_1": left_1, "left_2": left_2, "right_1": right_1},
        "sets": {"early": early, "ready": ready, "on_2": on_2, "right": right, "twice": twice},
        "notes": [first_note, second_note],
    }


@pytest.fixture
def bundle(history, staff) -> dict[str, Any]:
    return export(client_for(staff), history["patient"].pk)


# -- validity ---------------------------------------------------------------------------------


def test_the_export_parses_as_a_fhir_r4b_bundle(history, staff):
    response = client_for(staff).get(url(history["patient"].pk))

    assert response.status_code == 200
    assert response["Content-Type"] == FHIR_JSON
    parsed = Bundle.model_validate_json(response.content)  # raises on anything invalid
    assert parsed.type == "collection"
    assert parsed.timestamp is not None
    assert len(parsed.entry) == 1 + 1 + 3 * 2 + 5 + 2


def test_every_reference_resolves_to_an_entry_of_the_bundle(bundle):
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    found = list(references(bundle))

    assert len(full_urls) == len(set(full_urls))
    assert all(u.startswith("urn:uuid:") for u in full_urls)
    assert found, "the bundle links its resources"
    assert [r for r in found if r not in full_urls] == []


def test_each_entry_id_matches_its_full_url(bundle):
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"


def test_it_holds_one_resource_per_row(bundle):
    counts = Counter(e["resource"]["resourceType"] for e in bundle["entry"])

    assert counts == {
        "Patient": 1,
        "Practitioner": 1,  # the one therapist who prescribed everything
        "CarePlan": 3,
        "ServiceRequest": 3,
        "Observation": 5,
        "DocumentReference": 2,
    }


def test_every_status_is_a_code_of_its_value_set(bundle):
    assert {o["status"] for o in resources(bundle, "Observation")} <= OBSERVATION_STATUS
    for resource_type in ("CarePlan", "ServiceRequest"):
        assert {r["status"] for r in resources(bundle, resource_type)} <= REQUEST_STATUS
    assert {d["status"] for d in resources(bundle, "DocumentReference")} <= DOCUMENT_STATUS


# -- content ----------------------------------------------------------------------------------


def test_the_patient_carries_the_clinics_record_number(bundle, history):
    patient = history["patient"]
    (resource,) = resources(bundle, "Patient")

    assert resource["identifier"][0]["system"] == "urn:clamshell:clinic:riverside:mrn"
    assert resource["identifier"][0]["value"] == patient.record_number
    assert resource["name"][0]["family"] == "Duarte"
    assert resource["name"][0]["given"] == ["Ines"]
    assert resource["birthDate"] == patient.date_of_birth.isoformat()
    assert resource["active"] is True
    assert "gender" not in resource  # not recorded by the clinic


def test_a_discharged_patient_is_not_active(history, therapist, staff):
    patient = history["patient"]
    patient_discharge(patient=patient, by=therapist)

    bundle = export(client_for(staff), patient.pk)

    assert resources(bundle, "Patient")[0]["active"] is False
    assert {c["status"] for c in resources(bundle, "CarePlan")} == {"completed"}


def test_a_service_request_orders_exercise_therapy_for_one_hip(bundle, history, therapist):
    left_2 = history["prescriptions"]["left_2"]
    request = by_url(bundle)[urn("ServiceRequest", left_2.pk)]

    assert request["status"] == "active"
    assert request["intent"] == "order"
    assert request["code"]["coding"] == [
        {"system": SNOMED, "code": "229065009", "display": "Exercise therapy"}
    ]
    assert request["bodySite"][0]["coding"][0]["code"] == "287679003"  # left hip region
    assert request["bodySite"][0]["text"] == "Left hip"
    assert request["subject"]["reference"] == urn("Patient", history["patient"].pk)
    assert request["authoredOn"].startswith(left_2.started_at.astimezone(dt.UTC).date().isoformat())
    details = [d["text"] for d in request["orderDetail"]]
    assert details[0] == (
        "Stage 2: Reverse clamshell, gluteus medius 62 %MVIC (as the source article reports it "
        "from Boren et al. 2011, in healthy adults)"
    )
    assert "3 sets × 10 reps" in details
    assert "Hold 1 s at the top of each rep" in details
    assert "5 sessions per week" in details
    assert request["occurrenceTiming"]["repeat"]["frequency"] == 5
    assert request["occurrenceTiming"]["repeat"]["periodUnit"] == "wk"
    assert "Keeping your knees together" in request["patientInstruction"]
    # The prescriber is a Practitioner in the bundle.
    practitioner = by_url(bundle)[request["requester"]["reference"]]
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["name"][0]["text"] == therapist.get_username()
    # The right side has its own code.
    right = by_url(bundle)[urn("ServiceRequest", history["prescriptions"]["right_1"].pk)]
    assert right["bodySite"][0]["coding"][0]["code"] == "287579007"


def test_care_plans_follow_the_ladder(bundle, history):
    rx = history["prescriptions"]
    entries = by_url(bundle)
    left_1 = entries[urn("CarePlan", rx["left_1"].pk)]
    left_2 = entries[urn("CarePlan", rx["left_2"].pk)]
    right_1 = entries[urn("CarePlan", rx["right_1"].pk)]

    assert left_1["status"] == "completed"
    assert "end" in left_1["period"]
    assert left_2["status"] == "active"
    assert "end" not in left_2["period"]
    assert left_2["title"] == "Hip clamshell progression, left side, stage 2"
    assert left_2["intent"] == "plan"
    assert left_2["activity"][0]["reference"]["reference"] == urn("ServiceRequest", rx["left_2"].pk)
    # Advancing ended one prescription and started the next: the new plan replaces the old one.
    assert left_2["replaces"] == [{"reference": urn("CarePlan", rx["left_1"].pk)}]
    assert "replaces" not in right_1


def test_each_set_is_based_on_its_prescriptions_service_request(bundle, history):
    entries = by_url(bundle)
    for name, prescription in [("early", "left_1"), ("on_2", "left_2"), ("right", "right_1")]:
        observation = entries[urn("Observation", history["sets"][name].pk)]
        pk = history["prescriptions"][prescription].pk

        assert observation["basedOn"] == [{"reference": urn("ServiceRequest", pk)}]


def test_a_set_carries_reps_pain_and_effort(bundle, history):
    early = history["sets"]["early"]
    observation = by_url(bundle)[urn("Observation", early.pk)]

    assert observation["status"] == "final"
    assert observation["code"]["text"] == "Hip clamshell set"
    assert observation["effectiveDateTime"].startswith(
        early.performed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert "issued" in observation
    assert component(observation, "Repetitions")["valueInteger"] == 12
    pain = component(observation, "Pain (0-10)")
    assert pain["valueInteger"] == 2
    assert pain["code"]["coding"][0] == {
        "system": LOINC,
        "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    }
    assert component(observation, "Effort (0-10)")["valueInteger"] == 5
    assert observation["note"] == [{"text": "Felt steady."}]
    assert observation["identifier"][0]["value"] == f"urn:uuid:{early.client_id}"


def test_a_set_without_effort_has_no_effort_component(bundle, history):
    observation = by_url(bundle)[urn("Observation", history["sets"]["ready"].pk)]

    assert [c["code"]["text"] for c in observation["component"]] == ["Repetitions", "Pain (0-10)"]


def test_a_voided_set_is_entered_in_error_with_its_reason(bundle, history):
    observation = by_url(bundle)[urn("Observation", history["sets"]["twice"].pk)]

    assert observation["status"] == "entered-in-error"
    assert observation["note"][-1]["text"] == "Voided: Logged twice by mistake."
    assert "time" in observation["note"][-1]


def test_the_newest_clearance_note_is_current_and_replaces_the_older(bundle, history):
    first, second = history["notes"]
    entries = by_url(bundle)
    older = entries[urn("DocumentReference", first.pk)]
    newer = entries[urn("DocumentReference", second.pk)]

    assert older["status"] == "superseded"
    assert newer["status"] == "current"
    assert newer["relatesTo"] == [
        {"code": "replaces", "target": {"reference": urn("DocumentReference", first.pk)}}
    ]
    assert "relatesTo" not in older
    assert older["author"] == [{"display": "Dr. Ada Osei, MD, orthopaedics"}]
    assert older["description"].startswith("Cleared with restrictions (up to stage 2)")
    assert older["context"]["period"] == {
        "start": first.signed_on.isoformat(),
        "end": first.review_on.isoformat(),
    }


def test_a_clearance_note_is_attached_as_plain_text(bundle, history, therapist):
    first = history["notes"][0]
    document = by_url(bundle)[urn("DocumentReference", first.pk)]
    attachment = document["content"][0]["attachment"]
    text = base64.b64decode(attachment["data"]).decode()

    assert attachment["contentType"] == "text/plain; charset=utf-8"
    for line in [
        "Procedure or injury: Pelvic fracture, conservatively managed",
        "Decision: Cleared with restrictions",
        f"Weight-bearing: {WeightBearing.NOT_STATED.label}",
        "Highest stage allowed: 2",
        "Signed by: Dr. Ada Osei, MD, orthopaedics",
        f"Signed on: {first.signed_on.isoformat()}",
        f"Review on: {first.review_on.isoformat()}",
        f"Recorded by: {therapist.get_username()}",
    ]:
        assert line in text


def test_two_exports_of_the_same_data_are_identical(history):
    now = timezone.now()

    first = bundle_json(patient_bundle(history["patient"], now=now))
    second = bundle_json(patient_bundle(history["patient"], now=now))

    assert first == second


def test_ids_do_not_change_between_requests(history, staff, therapist):
    one = export(client_for(staff), history["patient"].pk)
    two = export(client_for(therapist), history["patient"].pk)

    assert [e["fullUrl"] for e in one["entry"]] == [e["fullUrl"] for e in two["entry"]]
    one.pop("timestamp"), two.pop("timestamp")
    assert one == two


def test_a_patient_with_no_history_is_just_the_patient(patient, staff):
    bundle = export(client_for(staff), patient.pk)

    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient"]
    Bundle.model_validate(bundle)


# -- access -----------------------------------------------------------------------------------


def test_it_answers_the_care_team(history, therapist, colleague, staff):
    for user in (therapist, colleague, staff):
        response = client_for(user).get(url(history["patient"].pk))

        assert response.status_code == 200, user


def test_it_answers_a_web_session(history, staff):
    # The download link on the web report: the browser's session, no token.
    client = APIClient()
    client.force_login(staff)

    response = client.get(url(history["patient"].pk))

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="patient-{history["patient"].pk}-fhir.json"'
    )
    assert response["Cache-Control"] == "no-store"


def test_it_accepts_a_fhir_clients_accept_header(history, staff):
    response = client_for(staff).get(url(history["patient"].pk), HTTP_ACCEPT=FHIR_JSON)

    assert response.status_code == 200
    assert response["Content-Type"] == FHIR_JSON


def test_it_asks_anonymous_callers_to_sign_in(history):
    response = APIClient().get(url(history["patient"].pk))

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_it_refuses_the_patient_even_for_their_own_record(patient, other_patient):
    client = client_for(patient.user)

    assert_error(client.get(url(patient.pk)), 403, "permission_denied")
    assert_error(client.get(url(other_patient.pk)), 403, "permission_denied")
    # The same answer whether the id exists or not: a patient learns nothing from it.
    assert_error(client.get(url(10**9)), 403, "permission_denied")


def test_an_outsider_gets_404_as_if_the_patient_did_not_exist(history, outsider):
    response = client_for(outsider).get(url(history["patient"].pk))

    error = assert_error(response, 404, "not_found")
    assert error["message"] == assert_error(client_for(outsider).get(url(10**9)), 404)["message"]


def test_a_user_with_no_role_gets_404(history):
    nobody = UserFactory(username="nobody")

    assert_error(client_for(nobody).get(url(history["patient"].pk)), 404, "not_found")


def test_a_nonexistent_or_malformed_id_gets_the_json_404(therapist):
    client = client_for(therapist)

    assert_error(client.get(url(10**9)), 404, "not_found")
    assert_error(client.get("/api/v1/patients/abc/fhir/"), 404, "not_found")
    assert_error(client.get(f"/api/v1/patients/{10**30}/fhir/"), 404, "not_found")


def test_another_clinics_therapist_cannot_export_a_clinic_patient(patient, outsider, therapist):
    assert client_for(therapist).get(url(patient.pk)).status_code == 200
    assert client_for(outsider).get(url(patient.pk)).status_code == 404


def test_it_only_answers_get(history, staff):
    client = client_for(staff)

    assert_error(client.post(url(history["patient"].pk), {}, format="json"), 405)
    assert_error(client.delete(url(history["patient"].pk)), 405)


# -- cost -------------------------------------------------------------------------------------


def _queries(client: APIClient, pk: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(pk))
    assert response.status_code == 200
    return len(queries)


def test_the_export_costs_the_same_queries_for_1_set_as_for_50(patient, therapist, staff):
    left = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=10),
    )
    SetLogFactory(prescription=left, logged_by=therapist)
    record_clearance(
        patient,
        by=therapist,
        signed_on=timezone.localdate() - dt.timedelta(days=5),
        review_on=timezone.localdate() + dt.timedelta(days=5),
    )
    client = client_for(staff)

    one_set = _queries(client, patient.pk)
    for number in range(49):
        extra = SetLogFactory(prescription=left, logged_by=therapist, note=f"set {number}")
        if number % 10 == 0:  # voided sets are exported too: no extra query for who voided them
            set_void(set_log=extra, by=therapist, reason="Checking the query count.")
    prescription_advance(prescription=left, by=therapist)
    fifty_sets = _queries(client, patient.pk)

    # The token (with user, patient and clinic), the patient with the clinic, then the
    # prescriptions, the sets, the clearance notes and the pain reviews (added with them: was
    # 6): one query each, whatever their number; and the insert that records the export
    # (docs/audit.md). A scanned copy is read from the storage, not the database.
    assert one_set == fifty_sets == 7
    assert len(resources(export(client, patient.pk), "Observation")) == 50


# -- clearance notes: the scanned copy, precautions, "no further clearance needed" -------------


def png_scan() -> bytes:
    """A small real PNG (the service judges a scan by its content)."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (250, 250, 250)).save(buffer, "PNG")
    return buffer.getvalue()


def note_with(patient, therapist, **fields):
    """A clearance note through the service, recorded today."""
    today = patient.clinic.local_date(timezone.now())
    values = {
        "reason": "Pelvic fracture, conservatively managed",
        "decision": Decision.CLEARED,
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD, orthopaedics",
        "signed_on": today - dt.timedelta(days=3),
        "review_on": today + dt.timedelta(days=60),
        **fields,
    }
    return clearance_note_record(patient=patient, recorded_by=therapist, **values)


def the_document(bundle: dict[str, Any], note) -> dict[str, Any]:
    return by_url(bundle)[urn("DocumentReference", note.pk)]


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("Sign-off Ines Duarte.png", png_scan(), "image/png"),
        ("sign-off.pdf", pdf_scan(), "application/pdf"),
    ],
)
def test_the_scanned_copy_is_a_second_attachment_byte_for_byte(
    patient_requiring_clearance, therapist, staff, name, data, content_type
):
    note = note_with(
        patient_requiring_clearance,
        therapist,
        # The browser's content type is not believed: the service reads the bytes.
        document=SimpleUploadedFile(name, data, content_type="application/octet-stream"),
    )

    response = client_for(staff).get(url(patient_requiring_clearance.pk))

    Bundle.model_validate_json(response.content)
    text, scan = the_document(json.loads(response.content), note)["content"]
    assert text["attachment"]["contentType"] == "text/plain; charset=utf-8"
    assert f"Scanned copy: {name} ({content_type}), attached" in base64.b64decode(
        text["attachment"]["data"]
    ).decode("utf-8")
    attachment = scan["attachment"]
    assert attachment["contentType"] == content_type
    assert attachment["title"] == name
    assert base64.b64decode(attachment["data"]) == data
    assert attachment["size"] == len(data)
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(data).digest()


def test_a_note_without_a_scan_has_only_its_text(bundle, history):
    document = the_document(bundle, history["notes"][0])

    assert [c["attachment"]["contentType"] for c in document["content"]] == [
        "text/plain; charset=utf-8"
    ]


def test_a_scan_lost_from_the_storage_is_said_not_fatal(
    patient_requiring_clearance, therapist, staff, caplog
):
    note = note_with(
        patient_requiring_clearance,
        therapist,
        document=SimpleUploadedFile("scan.png", png_scan(), content_type="image/png"),
    )
    note.document.storage.delete(note.document.name)

    bundle = export(client_for(staff), patient_requiring_clearance.pk)

    (text,) = the_document(bundle, note)["content"]
    body = base64.b64decode(text["attachment"]["data"]).decode("utf-8")
    assert "Scanned copy: scan.png: missing from the clinic's storage" in body
    assert f"clearance note {note.pk} cannot be read" in caplog.text
    Bundle.model_validate(bundle)


def test_a_no_further_clearance_note_is_current_with_an_open_period(
    patient_requiring_clearance, therapist, staff
):
    patient = patient_requiring_clearance
    today = patient.clinic.local_date(timezone.now())
    cleared = note_with(patient, therapist, signed_on=today - dt.timedelta(days=30))
    ended = note_with(
        patient,
        therapist,
        decision=Decision.NOT_REQUIRED,
        signed_on=today - dt.timedelta(days=1),
        review_on=None,
    )

    response = client_for(staff).get(url(patient.pk))

    Bundle.model_validate_json(response.content)  # an open period is valid FHIR
    bundle = json.loads(response.content)
    older, newer = the_document(bundle, cleared), the_document(bundle, ended)
    assert (older["status"], newer["status"]) == ("superseded", "current")
    assert newer["context"]["period"] == {"start": ended.signed_on.isoformat()}
    assert newer["description"].startswith(
        f"No further clearance needed: signed {ended.signed_on.isoformat()} by Dr. Ada Osei, "
        "no review date (the clearance requirement ends)."
    )
    text = base64.b64decode(newer["content"][0]["attachment"]["data"]).decode("utf-8")
    assert "Decision: No further clearance needed" in text
    assert "Review on: none (no further clearance needed: the requirement ends)" in text
    assert newer["relatesTo"] == [
        {"code": "replaces", "target": {"reference": urn("DocumentReference", cleared.pk)}}
    ]


def test_precautions_the_operated_side_and_the_procedure_are_exported(
    patient_requiring_clearance, therapist, staff
):
    patient = patient_requiring_clearance
    today = patient.clinic.local_date(timezone.now())
    operated = today - dt.timedelta(days=42)
    note = note_with(
        patient,
        therapist,
        reason="Posterior-approach total hip replacement",
        procedure_on=operated,
        decision=Decision.RESTRICTED,
        weight_bearing=WeightBearing.AS_TOLERATED,
        precautions=[Precaution.NO_INTERNAL_ROTATION, Precaution.NO_FLEXION_PAST_90],
        operated_side=OperatedSide.LEFT,
    )

    document = the_document(export(client_for(staff), patient.pk), note)

    assert document["description"] == (
        "Cleared with restrictions (weight-bearing as tolerated; precautions for the left hip: "
        f"no hip internal rotation past neutral, no hip flexion past {HIP_FLEXION_LIMIT_DEG}°): "
        f"signed {note.signed_on.isoformat()} by Dr. Ada Osei, review by "
        f"{note.review_on.isoformat()}. Procedure or injury on {operated.isoformat()}: "
        "Posterior-approach total hip replacement."
    )
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8")
    for line in [
        "Procedure or injury: Posterior-approach total hip replacement",
        f"Date of the procedure or injury: {operated.isoformat()}",
        "Operated or injured side: Left",
        "Movement precautions: No hip internal rotation past neutral; "
        f"No hip flexion past {HIP_FLEXION_LIMIT_DEG}°",
        "Scanned copy: none",
    ]:
        assert line in text


def test_precautions_for_both_hips_say_so(patient_requiring_clearance, therapist, staff):
    note = note_with(
        patient_requiring_clearance,
        therapist,
        decision=Decision.RESTRICTED,
        precautions=[Precaution.NO_LYING_ON_OPERATED_SIDE],
        operated_side=OperatedSide.BOTH,
    )

    document = the_document(export(client_for(staff), patient_requiring_clearance.pk), note)

    assert "precautions for both hips: no lying on the operated side" in document["description"]


@pytest.mark.parametrize("who", ["outsider", "patient", "anonymous"])
def test_the_scan_reaches_no_one_outside_the_care_team(
    request, patient_requiring_clearance, therapist, who
):
    data = png_scan()
    note_with(
        patient_requiring_clearance,
        therapist,
        document=SimpleUploadedFile("scan.png", data, content_type="image/png"),
    )
    user = {"outsider": request.getfixturevalue("outsider"), "anonymous": None}.get(who)
    if who == "patient":
        user = request.getfixturevalue("patient").user

    response = client_for(user).get(url(patient_requiring_clearance.pk))

    assert_error(response, {"outsider": 404, "patient": 403, "anonymous": 401}[who])
    assert base64.b64encode(data).decode()[:40] not in response.content.decode()


# -- pain reviews ------------------------------------------------------------------------------

CLINICAL_IMPRESSION_STATUS = {"in-progress", "completed", "entered-in-error"}


@pytest.fixture
def reviewed(patient, therapist, colleague):
    """Two painful sets on the left side, reviewed by the colleague ("continued", with a note);
    and an alert closed before reviews were recorded (no therapist)."""
    now = timezone.now()
    left = prescription_start(
        patient=patient, side="left", stage=stage(2), by=therapist, at=now - dt.timedelta(days=6)
    )
    log(patient, left, reps=10, pain=7, at=now - dt.timedelta(days=2), by=patient.user)
    log(patient, left, reps=8, pain=6, at=now - dt.timedelta(days=1), by=patient.user)
    review = pain_review_record(
        patient=patient,
        side="left",
        outcome=PainOutcome.CONTINUED,
        by=colleague,
        note="Technique corrected: the pelvis was rolling back.",
    )
    closed = PainReview.objects.create(
        patient=patient,
        side="right",
        outcome=PainOutcome.CLOSED_EARLIER,
        by=None,
        at=now - dt.timedelta(days=20),
        highest_pain=6,
        painful_sets=1,
    )
    return {"review": review, "closed": closed}


def test_a_pain_review_is_a_clinical_impression_by_its_reviewer(reviewed, staff, colleague):
    response = client_for(staff).get(url(reviewed["review"].patient_id))

    Bundle.model_validate_json(response.content)
    bundle = json.loads(response.content)
    impression = by_url(bundle)[urn("ClinicalImpression", reviewed["review"].pk)]
    assert impression["status"] in CLINICAL_IMPRESSION_STATUS
    assert impression["status"] == "completed"
    assert impression["code"] == {"text": "Review of a pain alert"}
    assert impression["subject"]["reference"] == urn("Patient", reviewed["review"].patient_id)
    assert impression["summary"] == "Continued at this stage"
    assert impression["description"] == (
        "Left side: pain above the alert threshold in 2 sets, the highest 7/10."
    )
    assert impression["finding"] == [
        {
            "itemCodeableConcept": {
                "text": "Pain above the alert threshold, left hip: highest 7/10 in 2 sets"
            }
        }
    ]
    assert impression["note"] == [{"text": "Technique corrected: the pelvis was rolling back."}]
    assert impression["effectiveDateTime"].startswith(
        reviewed["review"].at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    # The reviewer is a Practitioner of the bundle, like a prescriber.
    assessor = by_url(bundle)[impression["assessor"]["reference"]]
    assert assessor["resourceType"] == "Practitioner"
    assert assessor["id"] == resource_id("Practitioner", colleague.pk)


def test_an_alert_closed_before_reviews_has_no_assessor_and_says_why(reviewed, staff):
    bundle = export(client_for(staff), reviewed["closed"].patient_id)

    impression = by_url(bundle)[urn("ClinicalImpression", reviewed["closed"].pk)]
    assert "assessor" not in impression
    assert impression["summary"] == "Closed before reviews were recorded"
    assert "no therapist's decision was recorded" in impression["note"][-1]["text"]
    assert impression["description"].startswith(
        "Right side: pain above the alert threshold in 1 set,"
    )


def test_pain_reviews_keep_every_reference_inside_the_bundle(reviewed, staff):
    bundle = export(client_for(staff), reviewed["review"].patient_id)

    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert [r for r in references(bundle) if r not in full_urls] == []
    counts = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert counts["ClinicalImpression"] == 2
    assert counts["Practitioner"] == 2  # the prescriber and the reviewer


def test_the_service_request_states_the_thresholds_in_force(patient, therapist, staff, clinic):
    clinic.pain_alert_above = 4
    clinic.save()
    rx = prescription_start(
        patient=patient,
        side="left",
        stage=stage(1),
        by=therapist,
        at=timezone.now() - dt.timedelta(days=2),
        progress_at_reps=15,
    )

    request = by_url(export(client_for(staff), patient.pk))[urn("ServiceRequest", rx.pk)]

    details = [d["text"] for d in request["orderDetail"]]
    assert "Ready for the next stage at 15 reps in one set with pain at most 3/10" in details
    assert any(d.startswith("A set with pain above 4/10 stops the exercise") for d in details)
