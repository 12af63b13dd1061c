"""Sign-in lockout (django-axes): the client's address, whether a sign-in was refused by the lockout,
and how long it lasts. The web sign-in page and the API's token endpoint both answer with these, so
a person sees the same rule and the same wait wherever they sign in (docs/security.md).

Axes counts failed sign-ins per username and per address (`AXES_LOCKOUT_PARAMETERS`); either one
reaching `AXES_FAILURE_LIMIT` within `AXES_COOLOFF_TIME` locks, and the lock lifts a cool-off after
the last counted failure. Attempts made while locked are not counted, so retrying does not extend it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_credentials, get_failure_limit
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.throttling import BaseThrottle


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend (first in AUTHENTICATION_BACKENDS: it refuses a locked-out sign-in before any
    password is checked), for sign-ins that come with a request.

    Axes raises when `authenticate()` gets no request. Every sign-in a client can reach passes one
    (the sign-in page, the admin, the token endpoint; tests prove each locks), so a call without a
    request is code on the server checking a password (a command, a shell, a test): there is no
    client to count or lock, and it goes on to the password check.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        # Raises for a locked-out sign-in; otherwise it lets the next backend check the password.
        super().authenticate(request, *args, **kwargs)
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the sign-in throttles see it (`AXES_CLIENT_IP_CALLABLE`).

    Behind a proxy, REMOTE_ADDR is the proxy's. DRF's rule trusts exactly `NUM_PROXIES` entries at
    the end of X-Forwarded-For (0: ignore the header, which any client can forge). Using the same
    rule keeps the lockout and the throttles counting the same address.
    """
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]  # reads only request.META


def is_locked_out(request: HttpRequest) -> bool:
    """Whether the sign-in that `authenticate(request, ...)` just refused was refused by the lockout
    (axes flags the request) rather than by a wrong password."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_wait(request: HttpRequest, username: str | None = None) -> int:
    """Seconds until a locked-out sign-in may be tried again: for each locked count (this username,
    this address), a cool-off after its last failure; the longer wins."""
    cool_off = get_cool_off(request)
    if cool_off is None:  # no cool-off configured: only an administrator unlocks
        return 0
    credentials = getattr(request, "axes_credentials", None) or get_credentials(username)
    AxesProxyHandler.update_request(request)  # type: ignore[no-untyped-call]  # axes leaves it bare
    limit = get_failure_limit(request, credentials)
    handler = AxesProxyHandler.get_implementation()
    ends: list[dt.datetime] = []
    # Axes' default handler, the database one, has this method; their base class does not declare it.
    for attempts in handler.get_user_attempts(request, credentials):  # type: ignore[attr-defined]  # above
        counted = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if (counted["failures"] or 0) >= limit:
            ends.append(counted["last"] + cool_off)
    if not ends:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((max(ends) - timezone.now()).total_seconds()))


def lockout_message(wait: int) -> str:
    """What a locked-out person reads: what happened, when it lifts, and who can lift it sooner.

    It names no account: the same answer for a username that exists and one that does not.
    """
    if wait <= 0:
        when = "It stays locked until an administrator unlocks it."
    else:
        minutes = max(1, math.ceil(wait / 60))
        when = f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    return (
        "Too many failed sign-in attempts: signing in with this username or from this network is "
        f"locked. {when} To be unlocked sooner, ask your clinic's administrator (patients: ask "
        "your therapist to contact them)."
    )
