"""Token authentication that loads the patient and clinic with the token, in one query; and the
answer to a sign-in refused by the lockout.

Every `me/` request needs the patient and the clinic's time zone; fetching them with the token keeps
each write within its query budget (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import APIException, AuthenticationFailed

# A token is deleted when its patient signs out, is discharged or has the login disabled
# (patients/signals.py); nothing tells those apart from a key that never existed.
UNKNOWN_TOKEN = (
    "Invalid token: it was never issued or has been revoked (signed out, login disabled or "
    "programme ended). Sign in again; if that fails, contact your clinic."
)


class PatientTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        token = Token.objects.select_related("user__patient__clinic").filter(key=key).first()
        if token is None:
            raise AuthenticationFailed(UNKNOWN_TOKEN)
        if not token.user.is_active:
            raise AuthenticationFailed("This account is disabled: contact your clinic.")
        return token.user, token


class LockedOut(APIException):
    """Too many failed sign-ins for this username or from this address (django-axes).

    429 like a throttle, with Retry-After (DRF sends it for an exception's `wait`), but its own
    code: waiting a few seconds does not help, and the message says who can unlock.
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, message: str, wait: int) -> None:
        super().__init__(message, code=self.default_code)
        self.wait = wait if wait > 0 else None
