"""Session expiry for the web pages: a working day at most, and a short idle timeout.

Clinic computers are shared, so a session left open must end on its own: after
`SESSION_IDLE_TIMEOUT` seconds without a request, or `SESSION_COOKIE_AGE` seconds after sign-in,
whichever comes first (docs/security.md). The next request is then anonymous, and the person lands
on the sign-in page with a message saying why.

Django can only expire a session by its age since the last save, and `SESSION_SAVE_EVERY_REQUEST`
would write the session row on every page view. Instead the last-seen time is stored at most once
a minute (`SESSION_ACTIVITY_RESOLUTION`): the idle limit is then exact to within that minute, at
one write per minute of activity. The sign-in time is stored once, because every save also pushes
Django's own expiry forward, so it alone would never end a busy session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN = "last_seen"


class SessionTimeoutMiddleware:
    """Signs out a session that sat idle too long or outlived a working day.

    Goes after SessionMiddleware and AuthenticationMiddleware (it signs out), MessageMiddleware (it
    leaves a message for the sign-in page) and HtmxMiddleware (it answers htmx requests apart).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Stamped at sign-in, in the session write that signing in makes anyway (a new key); also
        # when someone signs in again while signed in, which keeps the session: a new working day.
        user_logged_in.connect(_stamp_sign_in, dispatch_uid="session_timeout_sign_in")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = int(timezone.now().timestamp())
        if _signed_in(request) and (reason := _expired(request, now)):
            logout(request)
            messages.info(request, reason)
            if getattr(request, "htmx", False):
                # A fragment swap would put the sign-in page inside the page: reload it instead.
                return HttpResponseClientRedirect(reverse("login"))
        response = self.get_response(request)
        if _signed_in(request):
            _seen(request, now)
        return response


def _signed_in(request: HttpRequest) -> bool:
    """Signed in with a session. Read from the session itself: `request.user` would cost a query,
    and after an API view it is the token's user (DRF sets it), who has no session to expire."""
    return SESSION_KEY in request.session


def _stamp_sign_in(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = int(timezone.now().timestamp())
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now


def _expired(request: HttpRequest, now: int) -> str | None:
    session = request.session
    signed_in_at, last_seen = session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
    if signed_in_at is None or last_seen is None:
        return None  # signed in before this middleware was installed: stamped after this request
    if now - last_seen > settings.SESSION_IDLE_TIMEOUT:
        minutes = settings.SESSION_IDLE_TIMEOUT // 60
        return f"You were signed out after {minutes} minutes without activity. Sign in again."
    if now - signed_in_at > settings.SESSION_COOKIE_AGE:
        hours = settings.SESSION_COOKIE_AGE // 3600
        return f"You were signed out {hours} hours after signing in. Sign in again."
    return None


def _seen(request: HttpRequest, now: int) -> None:
    session = request.session
    if session.get(SIGNED_IN_AT) is None:
        session[SIGNED_IN_AT] = now
        session[LAST_SEEN] = now
    elif now - session.get(LAST_SEEN, 0) >= settings.SESSION_ACTIVITY_RESOLUTION:
        session[LAST_SEEN] = now
