"""The patient's own page ("my exercises"): today's plan per side, a log form per active side and
this week's progress. Phone-first.

The log form confirms in place with htmx (the view answers with just that side's partial) and
works as a plain POST + redirect without JavaScript. Every set goes through
`exercises.services.set_log` with a `client_id` minted when the form is rendered, so a double tap
(or a resubmitted page) stores one set, exactly as the phone app's retries do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from clinic.http import AuthenticatedRequest
from exercises.models import SetLog, Source
from exercises.plan import PainWarning, SideProgress, pain_warning, progress_for
from exercises.services import LoggedSet, SetLogRequest, set_log
from patients.access import patient_of
from patients.errors import IdempotencyConflict
from patients.models import Patient, Side
from patients.thresholds import EFFORT_MAX, NOTE_MAX_LENGTH, PAIN_MAX, REPS_MAX, REPS_MIN

PAIN_CHOICES = range(PAIN_MAX + 1)
EFFORT_CHOICES = range(EFFORT_MAX + 1)

# The service's messages are written for API clients; a patient on a phone gets plain words.
_PLAIN: dict[tuple[str, str | None], str] = {
    ("reps", "min_value"): f"Enter the number of reps you did, from {REPS_MIN} to {REPS_MAX}.",
    ("reps", "max_value"): f"Enter the number of reps you did, from {REPS_MIN} to {REPS_MAX}.",
    ("pain", "min_value"): f"Choose your pain from 0 to {PAIN_MAX}.",
    ("pain", "max_value"): f"Choose your pain from 0 to {PAIN_MAX}.",
    ("effort", "min_value"): f"Choose the effort from 0 to {EFFORT_MAX}, or leave it empty.",
    ("effort", "max_value"): f"Choose the effort from 0 to {EFFORT_MAX}, or leave it empty.",
}
# Errors on any other field (the hidden ones, performed_at) are shown at the top of the card.
_SHOWN_FIELDS = {"reps", "pain", "effort", "note"}


class LogForm(forms.Form):
    """Parses the POST only. The ranges and every rule are checked by `set_log` (one place), whose
    errors are put back on these fields."""

    prescription = forms.IntegerField(widget=forms.HiddenInput)
    client_id = forms.UUIDField(widget=forms.HiddenInput)
    reps = forms.IntegerField(error_messages={"required": "Enter how many reps you did."})
    pain = forms.IntegerField(
        error_messages={"required": f"Choose how much it hurt, 0 to {PAIN_MAX}."}
    )
    effort = forms.IntegerField(required=False)
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH)

    data: MultiValueDict[str, Any]  # the POST, or empty when unbound

    def add_service_error(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for field, errors in exc.error_dict.items():
            target = field if field in _SHOWN_FIELDS else None
            for error in errors:
                text = _PLAIN.get((field, error.code)) or " ".join(error.messages)
                self.add_error(target, text)


@dataclass(frozen=True)
class SideView:
    """One side's card: the plan and progress, today's sets, and its log form (None when paused)."""

    progress: SideProgress
    sets_today: int
    form: LogForm | None
    problems: list[str]  # why the last set was not saved (shown even when the side is paused)
    saved: str | None = None  # the in-place confirmation after an htmx log
    # After a set above the pain alert threshold: the warning, in place of the confirmation.
    warning: PainWarning | None = None

    @property
    def side(self) -> str:
        return self.progress.side

    @property
    def pain_key(self) -> list[tuple[str, str, str]]:
        """The pain key of this side: the thresholds in force for its prescription."""
        prescription = self.progress.plan.prescription
        assert prescription is not None
        return prescription.thresholds.pain_key

    def pain_band(self, pain: int) -> str:
        prescription = self.progress.plan.prescription
        assert prescription is not None
        return prescription.thresholds.pain_band(pain)

    @property
    def pain_choices(self) -> list[tuple[int, str]]:
        """Each score with its band ("none", "safe", "acceptable", "too_much")."""
        return [(n, self.pain_band(n)) for n in PAIN_CHOICES]


def _patient(request: AuthenticatedRequest) -> Patient:
    patient = patient_of(request.user)
    if patient is None:
        raise PermissionDenied  # therapists and staff have their own pages
    return patient


def _fresh_form(progress: SideProgress) -> LogForm:
    # A new idempotency key per rendered form: resubmitting this form is the same set.
    prescription = progress.plan.prescription
    assert prescription is not None
    return LogForm(
        prefix=progress.side,
        initial={"prescription": prescription.pk, "client_id": uuid.uuid4()},
    )


def _sets_today(patient: Patient, now: dt.datetime) -> dict[str, int]:
    """Valid sets per side since midnight in the clinic's zone (one query)."""
    midnight = dt.datetime.combine(
        patient.clinic.local_date(now), dt.time.min, tzinfo=patient.clinic.tzinfo
    )
    return dict(
        SetLog.objects.valid()
        .filter(patient=patient, performed_at__gte=midnight)
        .values("side")
        .annotate(n=Count("id"))
        .values_list("side", "n")
    )


def _page(
    patient: Patient,
    *,
    bound: dict[str, LogForm] | None = None,
    saved: dict[str, str] | None = None,
    warnings: dict[str, PainWarning] | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    progress = progress_for(patient, now=now)
    today = _sets_today(patient, now)
    bound, saved, warnings = bound or {}, saved or {}, warnings or {}
    sides = []
    for sp in progress.sides:
        if sp.plan.prescription is None:
            continue
        posted = bound.get(sp.side)
        form = (posted or _fresh_form(sp)) if sp.plan.status == "active" else None
        # An ErrorList yields its messages as strings.
        problems = list(map(str, posted.non_field_errors())) if posted is not None else []
        sides.append(
            SideView(
                sp,
                today.get(sp.side, 0),
                form,
                problems,
                saved.get(sp.side),
                warnings.get(sp.side),
            )
        )
    return {
        "patient": patient,
        "progress": progress,
        "sides": sides,
        "effort_choices": EFFORT_CHOICES,
    }


def _render(
    request: AuthenticatedRequest, patient: Patient, template: str, context: dict[str, Any]
) -> str:
    # Times on the page are the clinic's local times, whatever the server's zone.
    with timezone.override(patient.clinic.tzinfo):
        return render_to_string(template, context, request)


@require_GET
@login_required
def me(request: AuthenticatedRequest) -> HttpResponse:
    patient = _patient(request)
    return HttpResponse(
        _render(
            request,
            patient,
            "clinic/my_exercises/me.html",
            _page(patient, warnings=_warnings(request, patient)),
        )
    )


def _warnings(request: AuthenticatedRequest, patient: Patient) -> dict[str, PainWarning]:
    """The warning of a painful set just saved without JavaScript (`?set=<id>` after the
    redirect): a reload shows it again, and another patient's set id shows nothing."""
    raw = request.GET.get("set", "")
    if not raw.isdigit():
        return {}
    logged = (
        SetLog.objects.valid()
        .filter(patient=patient, pk=int(raw))
        .select_related("prescription", "patient__clinic")
        .first()
    )
    warning = pain_warning(logged) if logged is not None else None
    return {logged.side: warning} if logged is not None and warning is not None else {}


@require_POST
@login_required
def me_log(request: AuthenticatedRequest) -> HttpResponse:
    """Log one set for one side. htmx: answer with that side's card (and the summary, out of band);
    otherwise redirect back with a message, or show the page again with the errors and the input."""
    patient = _patient(request)
    side = request.POST.get("side", "")
    if side not in Side.values:
        raise BadRequest("Unknown side.")
    form = LogForm(request.POST, prefix=side)
    logged = _log(patient, request, form) if form.is_valid() else None

    warning = pain_warning(logged.set_log) if logged is not None else None
    if logged is not None and not request.htmx:
        if warning is not None:
            # Not a calm message at the top: the warning, on the side's card (see `_warnings`).
            return redirect(f"{reverse('me')}?set={logged.set_log.pk}#side-{side}")
        messages.success(request, _confirmation(patient, logged))
        return redirect(f"{reverse('me')}#side-{side}")

    if logged is None:
        context = _page(patient, bound={side: form})
    elif warning is not None:
        context = _page(patient, warnings={side: warning})
    else:
        context = _page(patient, saved={side: _confirmation(patient, logged)})
    card = next((s for s in context["sides"] if s.side == side), None)
    if card is None:
        # The therapist stopped this side meanwhile: show the whole, current plan.
        messages.info(request, f"Your {side} side has no exercise any more; this is your plan now.")
        return HttpResponseClientRefresh() if request.htmx else redirect("me")
    if not request.htmx:
        return HttpResponse(
            _render(request, patient, "clinic/my_exercises/me.html", context), status=400
        )
    # 200 even for errors: htmx swaps only successful responses, and the errors are the content.
    html = _render(request, patient, "clinic/my_exercises/me.html#side", {**context, "s": card})
    html += _render(
        request, patient, "clinic/my_exercises/me.html#summary", {**context, "oob": True}
    )
    return HttpResponse(html)


def _log(patient: Patient, request: AuthenticatedRequest, form: LogForm) -> LoggedSet | None:
    # The form has no time field: the service logs the set as performed now, and a double tap
    # replays it with the stored time.
    entry = SetLogRequest.from_input(
        form.cleaned_data, patient=patient, by=request.user, source=Source.WEB
    )
    try:
        return set_log(entry)
    except IdempotencyConflict:
        # The form was resubmitted with other answers (e.g. after going back): a new set, so
        # the corrected form gets a new key.
        form.data = form.data.copy()
        form.data[form.add_prefix("client_id")] = str(uuid.uuid4())
        form.add_error(
            None,
            "This form had already saved another set. Check your answers and press "
            "Save set again to save this one as a new set.",
        )
    except ValidationError as exc:
        form.add_service_error(exc)
    return None


def _confirmation(patient: Patient, logged: LoggedSet) -> str:
    entry = logged.set_log
    at = timezone.localtime(entry.performed_at, patient.clinic.tzinfo)
    return (
        f"Saved: {entry.reps} reps, pain {entry.pain}/10 on your {entry.side} side at {at:%H:%M}."
    )
