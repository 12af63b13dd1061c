"""Role checks at a screen's door, shared by every feature of clinic/."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def requires(check: Any) -> Any:
    """Refuse (403) a signed-in user who fails `check`; anonymous users go to the login page."""

    def decorator(view: Any) -> Any:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
