"""Errors the domain rules raise.

They are ValidationErrors, so a form or the admin shows their message as it is; the API maps each
class to its HTTP status (a paused prescription is a conflict, not bad input). Every message says
what is missing or wrong in words a therapist or patient can act on.
"""

from django.core.exceptions import ValidationError


class DomainError(ValidationError):
    default_code = "invalid"
    # A single message, always a plain string (ValidationError's may be a lazy translation).
    message: str

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code or self.default_code)

    def __str__(self) -> str:
        return self.message


class ClearanceRequired(DomainError):
    """The clearance gate refused: no clearance in force allows this stage on this day."""

    default_code = "clearance_required"


class NotFound(DomainError):
    """The object does not exist for this patient (never says whether it exists for another)."""

    default_code = "not_found"


class PrescriptionEnded(DomainError):
    default_code = "prescription_ended"


class PrescriptionPaused(DomainError):
    """Clearance lapsed or missing: the patient must contact their therapist."""

    default_code = "prescription_paused"


class IdempotencyConflict(DomainError):
    """A client_id was reused with a different payload."""

    default_code = "idempotency_conflict"


class InvalidTransition(DomainError):
    """A stage change that the ladder does not allow (past the top, below the bottom, ended)."""

    default_code = "invalid_transition"
