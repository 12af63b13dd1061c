"""Sign-in landing and the role start pages (the full dashboard, reports and "my exercises"
screens build on these)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clinic.accounts.forms import SignInForm
from exercises.api.throttles import SignInAddressThrottle, SignInUsernameThrottle
from patients.access import is_clinic_staff, is_therapist, patient_of
from patients.lockout import is_locked_out, lockout_message, lockout_wait


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
    return render(request, "clinic/accounts/no_role.html", status=403)


def throttled(request: HttpRequest) -> tuple[str, int] | None:
    """Why a posted sign-in is refused and how many seconds to wait, if the per-minute sign-in
    limits (per address, per username: the API's throttles) are spent; else None. Counting the
    attempt."""
    # The throttles read only the username (`data`) and the address (`META`, `headers`).
    attempt = SimpleNamespace(data=request.POST, META=request.META, headers=request.headers)
    for throttle in (SignInAddressThrottle(), SignInUsernameThrottle()):
        # Both read only what `attempt` carries: neither needs a DRF request or view.
        if not throttle.allow_request(attempt, None):  # type: ignore[arg-type]  # above
            wait = int(throttle.wait() or 1)
            return f"Too many sign-in attempts. Wait {wait} seconds and try again.", wait
    return None


class ThrottledLoginView(LoginView):
    """Django's sign-in page, limited like the API's sign-in (per address and per username), so
    the web form is no way around the API's defence against password guessing; and locked, like
    the API's, after repeated failures (django-axes, `patients.lockout`)."""

    form_class = SignInForm

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = throttled(request)
        if refusal is not None:
            return self.refuse(*refusal)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        if is_locked_out(self.request):
            wait = lockout_wait(self.request, self.request.POST.get("username"))
            return self.refuse(lockout_message(wait), wait)
        return super().form_invalid(form)

    def refuse(self, message: str, wait: int) -> HttpResponse:
        """The sign-in page with why it refused and how long to wait: 429 and Retry-After."""
        # Unbound: validating the posted form would check the password after all.
        form = self.get_form_class()(
            self.request, initial={"username": self.request.POST.get("username", "")}
        )
        response = self.render_to_response(
            self.get_context_data(form=form, refused=message), status=429
        )
        if wait > 0:
            response["Retry-After"] = str(wait)
        return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The answer to a locked-out sign-in, called by AxesMiddleware (AXES_LOCKOUT_CALLABLE).

    The sign-in page and the token endpoint answer a lockout themselves (429, in their own shape,
    with when to retry); their answer is kept. Any other sign-in form that authenticates (the
    admin's) gets the sign-in page with the same message instead of a bare error text.
    """
    if original_response is not None and original_response.status_code == 429:
        return original_response
    page = ThrottledLoginView()
    page.setup(request)
    wait = lockout_wait(request, (credentials or {}).get("username"))
    response = page.refuse(lockout_message(wait), wait)
    # Made after the view's turn, so nothing else renders it.
    return response.render()  # type: ignore[attr-defined]  # a TemplateResponse (refuse)


def throttled_admin_sign_in(
    login: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """The admin's sign-in (`admin.site.login`) with the sign-in page's per-minute limits, counted
    together with it: a refused attempt gets the sign-in page's answer (429, the same message,
    `Retry-After`), as a lockout does (`lockout_response`)."""

    @wraps(login)  # keeps what Django's decorators marked on it (`login_not_required`)
    @never_cache
    def sign_in(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST":
            refusal = throttled(request)
            if refusal is not None:
                page = ThrottledLoginView()
                page.setup(request)
                return page.refuse(*refusal).render()  # type: ignore[attr-defined]  # as above
        return login(request, extra_context)

    return sign_in
