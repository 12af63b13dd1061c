"""Throttles: sign-in per address and per username; writes per patient. Answer 429 + Retry-After."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


def username_key(username: str) -> str:
    """The account a typed username counts against: normalised as Django normalises a username
    (NFKC, so the full-width letters U+FF4D… of `maya` are `maya`), without surrounding spaces, case-folded."""
    return str(AbstractBaseUser.normalize_username(username)).strip().casefold()


class SignInAddressThrottle(SimpleRateThrottle):
    scope = "sign_in_address"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignInUsernameThrottle(SimpleRateThrottle):
    """Guessing one account's password from many addresses is throttled too."""

    scope = "sign_in_username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if not isinstance(username, str) or not username.strip():
            return None
        # Hashed: a username is whatever the client typed (spaces, control characters, any
        # length), and cache backends such as memcached refuse keys like that.
        ident = hashlib.sha256(username_key(username).encode("utf-8", "surrogatepass"))
        return self.cache_format % {"scope": self.scope, "ident": ident.hexdigest()}


class WriteThrottle(SimpleRateThrottle):
    scope = "writes"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
