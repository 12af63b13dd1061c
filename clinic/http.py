"""The requests our screens receive, as the type checker sees them.

Django types `request.user` as a user or an anonymous visitor, and knows nothing of the `htmx`
attribute that django-htmx's middleware adds to every request. A view behind `@login_required`
takes an `AuthenticatedRequest`: its user is signed in, so it can be handed to the services as
the one who acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedRequest(HtmxRequest):
    user: User
