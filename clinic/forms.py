"""Forms of the patient page (therapist view). They collect and shape input; the services in
`exercises.services` and `patients.services` decide and write, and their errors are shown on the
form (`add_service_errors`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.validators import MaxLengthValidator
from django.utils import timezone

from exercises.models import MAX_PAIN, MAX_REPS, NOTE_MAX_LENGTH, Prescription, Stage
from patients.access import clinics_for
from patients.forms import DATE_INPUT, add_service_errors
from patients.models import Clinic, Decision, WeightBearing

__all__ = [
    "AdminSignInForm",
    "ClearanceNoteForm",
    "ClinicChoiceForm",
    "LogSetForm",
    "SignInForm",
    "StageChangeForm",
    "StartPrescriptionForm",
    "VoidSetForm",
    "add_service_errors",
]

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class _UsernameLimit:
    """Django's sign-in form sets the username's max_length after the field is built, so the
    limit reaches the HTML but is never checked: a 100,000-character username went on to the
    password check and to the lockout's record of the attempt (a 255-character column, a 500 on
    PostgreSQL). Checking it here refuses it as a form error before anything is looked up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        field = self.fields["username"]  # type: ignore[attr-defined]
        field.validators.append(MaxLengthValidator(field.max_length))


class ClinicChoiceForm(forms.Form):
    """A filter form that starts with a choice of one of the user's clinics (the clinic report,
    the access log). A bare page shows the first of them; a clinic that is not the user's fails
    validation like one that does not exist, which the views answer with 404."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)

    def __init__(self, data: Any, *, user: AbstractBaseUser | AnonymousUser) -> None:
        super().__init__(data)
        self.clinics = clinics_for(user).order_by("name")
        self.fields["clinic"].queryset = self.clinics
        self.data = self.data.copy()
        if not self.data.get("clinic"):
            first = self.clinics.first()
            self.data["clinic"] = str(first.pk) if first else ""


class SignInForm(_UsernameLimit, AuthenticationForm):
    """The sign-in page's form."""


class AdminSignInForm(_UsernameLimit, AdminAuthenticationForm):
    """The admin's sign-in form."""


def stage_label(stage: Stage) -> str:
    return f"Stage {stage.number}: {stage.name} ({stage.gmed_mvic_percent} %MVIC)"


def _number(label: str, low: int, high: int, **kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        **kwargs,
    )


class StartPrescriptionForm(forms.Form):
    """Start a side on a stage, with the dose. Defaults are the prescription model's."""

    stage = forms.TypedChoiceField(coerce=int, label="Stage")
    target_sets = _number("Sets", 1, 10, initial=3)
    target_reps = _number("Reps per set", 1, MAX_REPS, initial=10)
    hold_at_top_seconds = _number("Hold at top (s)", 0, 10, initial=1)
    sessions_per_week = _number("Sessions a week", 1, 14, initial=5)
    progress_at_reps = _number("Ready at reps", 1, MAX_REPS, required=False)
    pain_ceiling = _number("Pain ceiling", 0, MAX_PAIN, required=False)
    auto_advance = forms.BooleanField(
        required=False,
        label_suffix="",
        label="Advance automatically when ready",
        help_text="The clearance gate still applies; the step is recorded as made by the system.",
    )
    notes = forms.CharField(
        required=False,
        label="Notes",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; shown with the plan and kept when the stage changes.",
    )

    def __init__(self, *args: Any, stages: Sequence[Stage], clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages = {s.pk: s for s in stages}
        self.fields["stage"].choices = [(s.pk, stage_label(s)) for s in stages]
        self.fields[
            "progress_at_reps"
        ].help_text = f"Empty: the clinic's {clinic.progress_at_reps} reps (Boren 2011: 20)."
        self.fields[
            "pain_ceiling"
        ].help_text = (
            f"Highest pain for a set to count; empty: the clinic's {clinic.pain_ceiling}/10."
        )

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["stage"] = self.stages[data["stage"]]
        return data


class StageChangeForm(forms.Form):
    """Advance, regress or stop: one note, the button says which."""

    note = forms.CharField(
        required=False,
        max_length=1000,
        label="Note for the stage history",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional, e.g. why the stage changes.",
    )


class _AnyPrescription(forms.TypedChoiceField):
    """Offers the active prescriptions but accepts any id: the service decides, with its own
    message, whether the set may go on it (ended since the page was shown, another patient's)."""

    def valid_value(self, value: Any) -> bool:
        return True


class LogSetForm(forms.Form):
    """A set done in clinic, logged by the therapist on the patient's behalf.

    `client_id` is generated when the form is rendered and travels as a hidden field: submitting
    the same form twice (a double click, a resent POST) stores one set, exactly as a phone retrying
    its upload does.
    """

    prescription = _AnyPrescription(
        coerce=int,
        label="Side and stage",
        error_messages={"invalid_choice": "Choose the side the set was done on."},
    )
    reps = _number("Reps", 1, MAX_REPS)
    pain = _number("Pain (0–10)", 0, MAX_PAIN, help_text="0–3 safe, 4–5 acceptable, above 5 not.")
    effort = _number("Effort (0–10)", 0, 10, required=False, help_text="Optional.")
    performed_at = forms.DateTimeField(
        label="Performed at",
        input_formats=[DATETIME_FORMAT, "%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format=DATETIME_FORMAT
        ),
    )
    note = forms.CharField(
        required=False, max_length=NOTE_MAX_LENGTH, label="Note", help_text="Optional."
    )
    client_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, prescriptions: Sequence[Prescription], clinic: Clinic, **kwargs: Any
    ) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("client_id", uuid.uuid4())
        # Rounded up to the second the field shows: truncating could put a set logged right
        # after a start before the prescription's `started_at` (set_log accepts up to 5 minutes
        # ahead of the server's clock).
        now = timezone.localtime()
        kwargs["initial"].setdefault(
            "performed_at", now.replace(microsecond=0) + dt.timedelta(seconds=1)
        )
        if len(prescriptions) == 1:
            kwargs["initial"].setdefault("prescription", prescriptions[0].pk)
        super().__init__(*args, **kwargs)
        self.fields["performed_at"].help_text = f"Clinic time ({clinic.timezone})."
        self.fields["prescription"].choices = [("", "Choose a side")] + [
            (p.pk, f"{p.get_side_display()} side — {stage_label(p.stage)}") for p in prescriptions
        ]


class VoidSetForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        label="Reason",
        error_messages={"required": "Say why the set is voided."},
    )


class ClearanceNoteForm(forms.Form):
    """The medical team's decision as written on their note. Notes are never edited."""

    decision = forms.ChoiceField(choices=Decision.choices, label="Decision")
    reason = forms.CharField(
        max_length=300, label="Reason or diagnosis", help_text="e.g. pelvic fracture."
    )
    signed_by_name = forms.CharField(max_length=200, label="Signed by")
    signed_by_credentials = forms.CharField(
        max_length=100, label="Their credentials", help_text="e.g. MD, orthopaedics."
    )
    signed_on = forms.DateField(label="Date signed", widget=DATE_INPUT)
    review_on = forms.DateField(
        label="Review or expiry date",
        widget=DATE_INPUT,
        help_text="The clearance lapses after this day: exercises pause until a new note.",
    )
    weight_bearing = forms.ChoiceField(
        choices=WeightBearing.choices, initial=WeightBearing.NOT_STATED, label="Weight-bearing"
    )
    max_stage = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label="Highest stage allowed",
    )
    restrictions = forms.CharField(
        required=False,
        label="Other restrictions",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="As written on the note.",
    )

    def __init__(self, *args: Any, stage_numbers: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_stage"].choices = [("", "No stage limit")] + [
            (n, f"Up to stage {n}") for n in stage_numbers
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        signed_on: dt.date | None = data.get("signed_on")
        review_on: dt.date | None = data.get("review_on")
        if signed_on and review_on and review_on < signed_on:
            # The database refuses it too; here it is said next to the date to fix.
            self.add_error("review_on", "The review date cannot be before the date signed.")
        return data
