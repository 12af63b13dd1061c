"""One error shape for every API error:

    {"error": {"code": "<machine code>", "message": "<for a person>", "fields": {"<field>": ["…"]}}}

`fields` is present (possibly empty) on every error. Domain errors map to their HTTP status here,
in one table, so every endpoint answers the same way.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from exercises.api.parsers import PayloadTooLarge
from patients.errors import (
    ClearanceRequired,
    DomainError,
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    PrescriptionEnded,
    PrescriptionPaused,
)

logger = logging.getLogger(__name__)

# Seconds a client waits before retrying after the database was unreachable (503).
DATABASE_RETRY_AFTER = 1


DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    PrescriptionEnded: status.HTTP_409_CONFLICT,
    PrescriptionPaused: status.HTTP_409_CONFLICT,
    IdempotencyConflict: status.HTTP_409_CONFLICT,
    ClearanceRequired: status.HTTP_409_CONFLICT,
    InvalidTransition: status.HTTP_409_CONFLICT,
}


class Error(TypedDict):
    code: str
    message: str
    fields: dict[str, list[str]]  # messages per field; "non_field" for the request as a whole


class ErrorBody(TypedDict):
    """The API's one error shape (docs/api.md)."""

    error: Error


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> ErrorBody:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def domain_error_status(exc: DomainError) -> int:
    return DOMAIN_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST)


def validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as {field: [messages]}; errors without a field go under "non_field"."""
    if hasattr(exc, "error_dict"):
        return {
            ("non_field" if key == "__all__" else key): messages
            for key, messages in exc.message_dict.items()
        }
    return {"non_field": exc.messages}


def describe(exc: DjangoValidationError) -> tuple[int, ErrorBody]:
    """Status and body for an error raised by the domain (services, model validation)."""
    if isinstance(exc, DomainError):
        return domain_error_status(exc), error_body(exc.code or "invalid", exc.message)
    fields = validation_fields(exc)
    return status.HTTP_400_BAD_REQUEST, error_body("invalid", _summary(fields), fields)


def _summary(fields: dict[str, list[str]]) -> str:
    named = [f for f in fields if f != "non_field"]
    if not named:
        return " ".join(fields.get("non_field", ["The request is invalid."]))
    first = fields[named[0]][0]
    return f"{named[0]}: {first}" if len(named) == 1 else f"Invalid fields: {', '.join(named)}."


def invalid_body(detail: Any) -> ErrorBody:
    """The error body for a serializer's errors: one list of messages per field."""
    detail = detail if isinstance(detail, dict) else {"non_field": detail}
    fields = {
        ("non_field" if key == "non_field_errors" else key): _flatten(value)
        for key, value in detail.items()
    }
    return error_body("invalid", _summary(fields), fields)


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def database_unavailable(exc: Exception) -> Response:
    """503 for a lost or refused database connection (a restart, a failover, a dropped connection,
    SQLite busy past its timeout; `is_transient`): the request's transaction did not commit, or committed just
    before the connection went and a retry with the same client_id returns the stored set. Either
    way the app's answer is the same, retry, so it gets a clean JSON 503 with Retry-After instead of
    an HTML 500 page. Django closes the broken connection at the end of the request."""
    logger.warning("Database unavailable: %s", exc, exc_info=exc)
    return Response(
        error_body(
            "service_unavailable",
            "The service is briefly unavailable: try again in a moment (a set sent again with the "
            "same client_id is never stored twice).",
        ),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


# SQLSTATE classes and codes after which the same request may well succeed a moment later: a lost
# connection (08), the server shutting down or starting (57P01-57P03), too many connections
# (53300), a serialization failure or a deadlock victim (40001, 40P01).
RETRYABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")


def is_transient(exc: Exception) -> bool:
    """Whether a database error is one a retry can cure (the app is told 503, retry) rather than a
    fault of ours (a missing table, a full disk: a 500 that alerting must see)."""
    if isinstance(exc, InterfaceError):
        return True  # the connection was already closed
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    sqlite_error: str | None = getattr(cause, "sqlite_errorname", None)
    if sqlite_error is not None:
        # SQLite: only another writer holding the lock past the busy timeout.
        return sqlite_error.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    sqlstate: str | None = getattr(cause, "sqlstate", None)
    # psycopg: no SQLSTATE means the server never answered, i.e. the connection went.
    return sqlstate is None or sqlstate.startswith(RETRYABLE_SQLSTATES)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_transient(exc):
        return database_unavailable(exc)
    if isinstance(exc, DjangoValidationError):
        code, body = describe(exc)
        return Response(body, status=code)
    if isinstance(exc, RequestDataTooBig):
        # Django's own limit (form data, request.body), raised before our parser's could be.
        exc = PayloadTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging take over
    if isinstance(exc, exceptions.ValidationError):
        response.data = invalid_body(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        # Throttled sets `wait` (seconds, or None); DRF's stubs do not declare it.
        wait = int(exc.wait or 1)  # type: ignore[attr-defined]  # above
        response.data = error_body(
            "throttled", f"Too many requests: wait {wait} seconds and try again."
        )
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        error_code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(error_code, " ".join(_flatten(exc.detail)))
    return response
