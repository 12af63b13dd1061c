"""Token authentication that loads the patient and clinic with the token, in one query.

Every `me/` request needs the patient and the clinic's time zone; fetching them with the token keeps
each write within its query budget (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


class PatientTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        token = Token.objects.select_related("user__patient__clinic").filter(key=key).first()
        if token is None:
            raise AuthenticationFailed("Invalid token: sign in again.")
        if not token.user.is_active:
            raise AuthenticationFailed("This account is disabled: contact your clinic.")
        return token.user, token
