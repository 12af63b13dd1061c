"""Sign-in landing and the role start pages (the full dashboard, reports and "my exercises"
screens build on these)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from patients.access import clinics_for, is_clinic_staff, is_therapist, patient_of


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


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    return redirect("home" if request.user.is_authenticated else "login")


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its own start page after sign-in."""
    user = request.user
    if patient_of(user) is not None:
        return redirect("me")
    if is_therapist(user):
        return redirect("dashboard")
    if is_clinic_staff(user):
        return redirect("reports")
    if user.is_superuser:
        return redirect("admin:index")
    return render(request, "clinic/no_role.html", status=403)


@require_GET
@requires(is_clinic_staff)
def reports(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/reports.html", {"clinics": clinics_for(request.user)})
