"""`GET /api/v1/patients/<id>/fhir/`: a patient's record as a FHIR R4 Bundle, for the care team.

Unlike `me/`, this endpoint is for therapists and staff of the patient's clinic (a download link on
the web report uses the browser session; other systems use a token). Patients get 403, whoever
else is not in the patient's clinic gets 404: the same answer as for a patient that does not exist.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from exercises.api.errors import error_body
from exercises.api.fhir import bundle_json, patient_bundle
from exercises.api.serializers import ErrorSerializer
from patients.access import patient_of, staff_patient_for_user
from patients.access_events import recorded
from patients.models import AccessAction, Patient

FHIR_JSON = "application/fhir+json"
NOT_FOR_PATIENTS = (
    "The FHIR export is for the patient's care team (therapists and staff of the clinic); "
    "patients see their own record in the app."
)


class FHIRJSONRenderer(JSONRenderer):
    """Lets a FHIR client's `Accept: application/fhir+json` through content negotiation (errors
    keep the one error shape, in that media type)."""

    media_type = FHIR_JSON
    format = "fhir"


def care_team_patient(user: User | AnonymousUser, pk: int) -> Patient:
    """The patient, for a therapist or staff member of their clinic; 403 for a patient, 404 for
    anyone else (another clinic's care team, or no such patient).

    The care-team lookup goes first: someone who works at the clinic and also has a patient login
    keeps their professional access. A patient is refused whatever the id, so the 403 tells
    nothing about which patients exist.
    """
    try:
        return staff_patient_for_user(user, pk)
    except Http404:
        if patient_of(user) is not None:
            raise PermissionDenied(NOT_FOR_PATIENTS) from None
        raise


def _error(description: str, code: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(code, value=error_body(code, message), response_only=True)],
    )


class PatientFHIRView(APIView):
    # JSON first: errors are plain JSON unless the client asks for FHIR JSON only.
    renderer_classes = [JSONRenderer, FHIRJSONRenderer]

    @extend_schema(
        operation_id="patient_fhir_export",
        summary="A patient's record as a FHIR R4 Bundle (care team only)",
        description=(
            "A FHIR R4 `collection` Bundle (`application/fhir+json`) with the Patient, a "
            "Practitioner per prescriber or reviewer, a CarePlan and a ServiceRequest (SNOMED CT "
            "229065009 Exercise therapy) per prescription, an Observation per logged set (voided "
            "sets as `entered-in-error`), a DocumentReference per medical clearance note (the note "
            "as text, and its scanned copy when one was recorded) and a ClinicalImpression per "
            "review of a pain alert. Built and validated with the `fhir.resources` R4B models. "
            "Resource ids are stable across exports. For therapists and staff of the patient's "
            "clinic: sign in with a token or the web session. See docs/api.md, 'FHIR export'."
        ),
        parameters=[
            # drf-spectacular names the path's `pk` "id" (SCHEMA_COERCE_PATH_PK).
            OpenApiParameter(
                "id",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                OpenApiParameter.PATH,
                description="The patient's id (as in the web pages' addresses).",
            ),
            # DRF's `?format=` override exists only because there are two renderers; the media
            # type is chosen with the Accept header.
            OpenApiParameter("format", exclude=True),
        ],
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A FHIR R4 Bundle of type `collection`; `Content-Disposition` "
                "names a file to save it as.",
            ),
            401: _error(
                "No valid token or session.",
                "not_authenticated",
                "Authentication credentials were not provided.",
            ),
            403: _error("The account is a patient's.", "permission_denied", NOT_FOR_PATIENTS),
            404: _error(
                "No such patient in any of your clinics (another clinic's patient looks the "
                "same as one that does not exist).",
                "not_found",
                "Not found.",
            ),
        },
    )
    def get(self, request: Request, pk: str) -> HttpResponse:
        # The URL takes any segment (`<str:pk>`) so that a malformed id gets the API's JSON 404,
        # not the web pages' HTML one that a URL converter's mismatch would give.
        if not re.fullmatch(r"[0-9]{1,19}", pk):
            raise NotFound("No such patient.")
        patient = care_team_patient(request.user, int(pk))
        response = HttpResponse(
            bundle_json(patient_bundle(patient, now=timezone.now())), content_type=FHIR_JSON
        )
        response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}-fhir.json"'
        # A health record: no shared cache or browser cache should keep a copy.
        response["Cache-Control"] = "no-store"
        return recorded(
            response, user=request.user, action=AccessAction.FHIR_EXPORT, patient=patient
        )
