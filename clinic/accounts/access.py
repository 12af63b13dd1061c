"""Role checks at a screen's door, shared by every feature of clinic/."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Concatenate

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from clinic.http import AuthenticatedRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def requires[**P](
    check: Callable[[User], bool],
) -> Callable[
    [Callable[Concatenate[AuthenticatedRequest, P], HttpResponse]],
    Callable[Concatenate[AuthenticatedRequest, P], HttpResponse],
]:
    """Refuse (403) a signed-in user who fails `check`; anonymous users go to the login page."""

    def decorator(
        view: Callable[Concatenate[AuthenticatedRequest, P], HttpResponse],
    ) -> Callable[Concatenate[AuthenticatedRequest, P], HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(
            request: AuthenticatedRequest, *args: P.args, **kwargs: P.kwargs
        ) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
