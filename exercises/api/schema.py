"""The OpenAPI description of the patient API (docs/api.md), apart from the views that serve it.

- What the views' `@extend_schema` says beyond their code: the documented errors, the examples and
  the argument sets of the larger operations (`extend_schema(**schema.LOG_SET)`). The generated
  schema (`/api/schema/`) is what the app's developers and the schema fuzzing read.
- The post-processing of the generated schema (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from exercises.api import serializers as s
from exercises.api.errors import error_body
from exercises.plan import PainWarning
from patients.lockout import lockout_message
from patients.thresholds import PAIN_ALERT_ABOVE, REPS_MAX

# -- errors, parameters and examples shared by the operations -----------------------------------

ERROR = s.ErrorSerializer


def _error(description: str, code: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(
        ERROR,
        description=description,
        examples=[OpenApiExample(code, value=error_body(code, message), response_only=True)],
    )


UNAUTHENTICATED = _error(
    "No valid token.", "not_authenticated", "Authentication credentials were not provided."
)
NOT_A_PATIENT = _error(
    "The account is not a patient's (therapists and staff), or the patient was discharged.",
    "permission_denied",
    "This API is for patients: sign in with a patient's account.",
)
THROTTLED = _error(
    "Too many requests; the Retry-After header says how many seconds to wait.",
    "throttled",
    "Too many requests: wait 30 seconds and try again.",
)
# Sent with every 429 (DRF's Throttled).
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before trying again.",
)
NOT_JSON = _error(
    "The body is not JSON: send `Content-Type: application/json`.",
    "unsupported_media_type",
    'Unsupported media type "text/plain" in request.',
)
BAD_INPUT = _error(
    "Bad input: `fields` names each field and the reason. Nothing was written.",
    "invalid",
    f"reps: Ensure this value is less than or equal to {REPS_MAX}.",
)
PATIENT_READ_RESPONSES: dict[int, OpenApiResponse] = {401: UNAUTHENTICATED, 403: NOT_A_PATIENT}

SET_EXAMPLE: dict[str, Any] = {
    "client_id": "3f6c1c1e-8a3b-4f59-9a47-2d8a2f0b6e11",
    "prescription": 12,
    "reps": 15,
    "pain": 2,
    "effort": 6,
    "performed_at": "2026-11-24T07:30:00+00:00",
    "note": "Felt steady.",
}

LOGGED_EXAMPLE: dict[str, Any] = {
    "id": 3505,
    "client_id": SET_EXAMPLE["client_id"],
    "prescription": SET_EXAMPLE["prescription"],
    "side": "left",
    "stage": 2,
    "reps": SET_EXAMPLE["reps"],
    "pain": SET_EXAMPLE["pain"],
    "effort": SET_EXAMPLE["effort"],
    "performed_at": "2026-11-24T07:30:00Z",
    "logged_at": "2026-11-24T07:31:02.520571Z",
    "source": "app",
    "note": SET_EXAMPLE["note"],
    "voided": False,
    "void_reason": "",
    "warning": None,
}
# The warning's words come from exercises.plan.PainWarning, as the app will receive them.
LOGGED_PAINFUL_EXAMPLE: dict[str, Any] = {
    **LOGGED_EXAMPLE,
    "pain": PAIN_ALERT_ABOVE + 2,
    "warning": s.PainWarningSerializer(
        PainWarning(
            pain=PAIN_ALERT_ABOVE + 2,
            threshold=PAIN_ALERT_ABOVE,
            clinic_name="Riverside Physiotherapy",
            clinic_phone="020 7946 0000",
        )
    ).data,
}

SET_WRITE_RESPONSES: dict[int, OpenApiResponse] = {
    400: BAD_INPUT,
    401: UNAUTHENTICATED,
    403: NOT_A_PATIENT,
    404: _error(
        "The prescription is not one of yours (or does not exist).",
        "not_found",
        "No such prescription for this patient.",
    ),
    409: OpenApiResponse(
        ERROR,
        description="The prescription has ended or is paused (medical clearance), or this "
        "client_id was already used for a different set. `code` says which.",
        examples=[
            OpenApiExample(code, value=error_body(code, message), response_only=True)
            for code, message in [
                (
                    "prescription_paused",
                    "Your exercises are paused until your medical clearance is up to date: "
                    "please contact your therapist.",
                ),
                (
                    "prescription_ended",
                    "This prescription (stage 2, left side) ended on 20 Nov 2026; log against "
                    "the current plan.",
                ),
                (
                    "idempotency_conflict",
                    "A different set was already stored under client_id "
                    "3f6c1c1e-8a3b-4f59-9a47-2d8a2f0b6e11. Use a new client_id for a new set.",
                ),
            ]
        ],
    ),
    415: NOT_JSON,
    429: THROTTLED,
}


# -- the operations' arguments ---------------------------------------------------------------

SIGN_IN: dict[str, Any] = {
    "operation_id": "sign_in",
    "auth": [],
    "request": s.TokenRequestSerializer,
    "responses": {
        200: s.TokenSerializer,
        400: _error(
            "Missing fields, or the username and password do not match.",
            "invalid_credentials",
            "Username or password is incorrect.",
        ),
        415: NOT_JSON,
        429: OpenApiResponse(
            ERROR,
            description=(
                "Too many requests (`throttled`: wait the Retry-After seconds), or too many "
                "failed sign-ins for this username or from this address (`locked_out`: "
                "Retry-After says when the lock lifts; an administrator can lift it sooner)."
            ),
            examples=[
                OpenApiExample(
                    "throttled",
                    value=error_body(
                        "throttled", "Too many requests: wait 30 seconds and try again."
                    ),
                    response_only=True,
                ),
                OpenApiExample(
                    "locked_out",
                    value=error_body("locked_out", lockout_message(900)),
                    response_only=True,
                ),
            ],
        ),
    },
    "parameters": [RETRY_AFTER],
    "examples": [
        OpenApiExample(
            "sign in",
            value={"username": "amelia.clarke", "password": "demo"},
            request_only=True,
        ),
        OpenApiExample(
            "token",
            value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
            response_only=True,
        ),
    ],
}

SIGN_OUT: dict[str, Any] = {
    "operation_id": "sign_out",
    "request": None,
    "responses": {
        204: OpenApiResponse(description="Signed out: the token no longer works."),
        401: UNAUTHENTICATED,
        403: _error(
            "Signed in with a browser session (not a token) and no CSRF token sent.",
            "permission_denied",
            "CSRF Failed: CSRF token missing.",
        ),
    },
}

CHECK_TOKEN: dict[str, Any] = {
    "operation_id": "check_token",
    "responses": {
        204: OpenApiResponse(
            description="The token is valid and belongs to a patient in an active programme."
        ),
        **PATIENT_READ_RESPONSES,
    },
}

LIST_SETS: dict[str, Any] = {
    "operation_id": "list_sets",
    "responses": {
        200: s.SetLogSerializer(many=True),
        400: BAD_INPUT,
        404: _error("No such page.", "not_found", "Invalid page."),
        **PATIENT_READ_RESPONSES,
    },
}

LOG_SET: dict[str, Any] = {
    "operation_id": "log_set",
    "request": s.SetLogInputSerializer,
    "responses": {
        201: OpenApiResponse(
            s.LoggedSetSerializer,
            description="Stored. `warning` is not null when the pain was above the "
            'threshold: show it instead of a calm "saved".',
            examples=[
                OpenApiExample("within the threshold", value=LOGGED_EXAMPLE, response_only=True),
                OpenApiExample(
                    "too much pain: the warning",
                    value=LOGGED_PAINFUL_EXAMPLE,
                    response_only=True,
                ),
            ],
        ),
        200: OpenApiResponse(
            s.LoggedSetSerializer,
            description="Already stored under this client_id with the same payload (a retry): "
            "the stored set, nothing new written, with the same `warning` as the first answer.",
        ),
        **SET_WRITE_RESPONSES,
    },
    "parameters": [RETRY_AFTER],
    "examples": [OpenApiExample("a set", value=SET_EXAMPLE, request_only=True)],
}

LOG_SETS_BATCH: dict[str, Any] = {
    "operation_id": "log_sets_batch",
    "request": s.BatchRequestSerializer,
    "responses": {
        200: OpenApiResponse(
            s.BatchResponseSerializer,
            description="One result per item, in order; a rejected item never blocks the others.",
        ),
        400: BAD_INPUT,
        401: UNAUTHENTICATED,
        403: NOT_A_PATIENT,
        415: NOT_JSON,
        429: THROTTLED,
    },
    "parameters": [RETRY_AFTER],
    "examples": [
        OpenApiExample(
            "two sets",
            value={
                "sets": [
                    SET_EXAMPLE,
                    {
                        **SET_EXAMPLE,
                        "client_id": "b0e1f7a2-5c3d-4e8f-9a1b-2c3d4e5f6a7b",
                        "reps": 16,
                    },
                ]
            },
            request_only=True,
        )
    ],
}


# -- post-processing -------------------------------------------------------------------------


def reject_unknown_fields(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every request body is read by a StrictSerializer, which refuses fields it does not know:
    say so in the schema (`additionalProperties: false`), so clients and fuzzers know it too.

    With COMPONENT_SPLIT_REQUEST, the request-side components are exactly those named *Request.
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
