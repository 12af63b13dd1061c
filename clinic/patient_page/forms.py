"""Forms of the patient page (therapist view). They collect and shape input; the services in
`exercises.services` and `patients.services` decide and write, and their errors are shown on the
form (`add_service_errors`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils import timezone

from clinic.forms import DATE_INPUT, add_service_errors, choice_field
from exercises.models import PainOutcome, Prescription, Stage
from patients.documents import ACCEPTED, DOCUMENT_MAX_BYTES
from patients.models import Clinic, Decision, OperatedSide, Patient, WeightBearing
from patients.precautions import Precaution
from patients.thresholds import (
    EFFORT_MAX,
    NOTE_MAX_LENGTH,
    PAIN_ALERT_RANGE,
    PAIN_MAX,
    REPS_MAX,
    REPS_MIN,
)

__all__ = [
    "ClearanceNoteForm",
    "LogSetForm",
    "PainReviewForm",
    "StageChangeForm",
    "StartPrescriptionForm",
    "VoidSetForm",
    "add_service_errors",
]

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


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


class StageSelect(forms.Select):
    """The stage choices, with those the clearance rules out greyed out (the service refuses them
    anyway, with its message; here the therapist sees it before choosing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ruled_out: set[int] = set()

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if getattr(value, "value", value) in self.ruled_out:
            option["attrs"]["disabled"] = True
        return option


class StartPrescriptionForm(forms.Form):
    """Start a side on a stage, with the dose. Defaults are the prescription model's."""

    stage = forms.TypedChoiceField(coerce=int, label="Stage", widget=StageSelect)
    target_sets = _number("Sets", 1, 10, initial=3)
    target_reps = _number("Reps per set", REPS_MIN, REPS_MAX, initial=10)
    hold_at_top_seconds = _number("Hold at top (s)", 0, 10, initial=1)
    sessions_per_week = _number("Sessions a week", 1, 14, initial=5)
    progress_at_reps = _number("Ready at reps", REPS_MIN, REPS_MAX, required=False)
    pain_ceiling = _number("Pain ceiling", 0, PAIN_MAX, required=False)
    pain_alert_above = _number("Pain alert above", *PAIN_ALERT_RANGE, required=False)
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

    def __init__(
        self,
        *args: Any,
        stages: Sequence[Stage],
        clinic: Clinic,
        ruled_out: dict[int, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.stages = {s.pk: s for s in stages}
        # Stage id → why the clearance rules it out on this side (shown under the choice).
        self.ruled_out = ruled_out or {}
        field = choice_field(self, "stage")
        field.choices = [
            (
                s.pk,
                stage_label(s)
                + (" — not allowed by the clearance" if s.pk in self.ruled_out else ""),
            )
            for s in stages
        ]
        field.widget.ruled_out = set(self.ruled_out)
        allowed = [s.pk for s in stages if s.pk not in self.ruled_out]
        if allowed and not self.is_bound:
            self.initial.setdefault("stage", allowed[0])
        thresholds = clinic.thresholds
        self.fields[
            "progress_at_reps"
        ].help_text = f"Empty: the clinic's {thresholds.ready_reps} reps."
        self.fields["pain_ceiling"].help_text = (
            f"Highest pain for a set to count towards readiness; empty: the clinic's "
            f"{thresholds.pain_ceiling}/10."
        )
        self.fields["pain_alert_above"].help_text = (
            f"A set above this opens a pain alert and stops the patient for the day; empty: the "
            f"clinic's {thresholds.pain_alert_above}/10."
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
    reps = _number("Reps", REPS_MIN, REPS_MAX)
    pain = _number(f"Pain (0–{PAIN_MAX})", 0, PAIN_MAX)
    effort = _number(
        f"Effort (0–{EFFORT_MAX})", 0, EFFORT_MAX, required=False, help_text="Optional."
    )
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
        t = clinic.thresholds
        self.fields["pain"].help_text = (
            f"0–{t.pain_ceiling} safe, up to {t.pain_alert_above} acceptable, above "
            f"{t.pain_alert_above} not (the clinic's; a side may set its own)."
        )
        choice_field(self, "prescription").choices = [("", "Choose a side")] + [
            (p.pk, f"{p.get_side_display()} side — {stage_label(p.stage)}") for p in prescriptions
        ]


class VoidSetForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        label="Reason",
        error_messages={"required": "Say why the set is voided."},
    )


class ClearanceNoteForm(forms.Form):
    """The medical team's decision as written on their sign-off. Notes are never edited.

    The form collects and shapes; `patients.services.clearance_note_record` checks every rule
    (what a decision may carry, dates, the scanned copy's content) and says what is missing."""

    decision = forms.ChoiceField(
        choices=Decision.choices,
        label="Decision",
        help_text="“No further clearance needed” ends the requirement: no review date, no limits.",
    )
    reason = forms.CharField(
        max_length=300,
        label="Procedure or injury",
        help_text="As the sign-off names it, e.g. posterior-approach total hip replacement.",
    )
    procedure_on = forms.DateField(
        required=False, label="Date of the procedure or injury", widget=DATE_INPUT
    )
    signed_by_name = forms.CharField(max_length=200, label="Signed by")
    signed_by_credentials = forms.CharField(
        max_length=100, label="Their credentials", help_text="e.g. MD, orthopaedics."
    )
    signed_on = forms.DateField(label="Date signed", widget=DATE_INPUT)
    review_on = forms.DateField(
        required=False,
        label="Review or expiry date",
        widget=DATE_INPUT,
        help_text="The clearance lapses after this day: exercises pause until a new note. Leave "
        "empty for “no further clearance needed”.",
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
    precautions = forms.MultipleChoiceField(
        choices=Precaution.choices,
        required=False,
        label="Movement precautions",
        widget=forms.CheckboxSelectMultiple,
        help_text="Each rules out the stages whose movement it forbids, on the hip it protects.",
        error_messages={
            "invalid_choice": "%(value)s is not one of the precautions listed; write any other "
            "restriction under “other restrictions”."
        },
    )
    operated_side = forms.ChoiceField(
        choices=[("", "—"), *OperatedSide.choices],
        required=False,
        label="Operated or injured side",
        help_text="The hip the precautions protect.",
    )
    restrictions = forms.CharField(
        required=False,
        label="Other restrictions",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="As written on the note.",
    )
    document = forms.FileField(
        required=False,
        label="Scanned copy of the signed note",
        help_text=f"Optional: {ACCEPTED}. Only the care team can open it; each opening is "
        "recorded.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"}),
    )

    def __init__(
        self, *args: Any, stage_numbers: Sequence[int], patient: Patient, **kwargs: Any
    ) -> None:
        kwargs.setdefault("initial", {})
        # The hip the precautions protect is usually the affected one.
        kwargs["initial"].setdefault("operated_side", patient.affected_side)
        kwargs["initial"].setdefault("reason", patient.clearance_reason)
        super().__init__(*args, **kwargs)
        choice_field(self, "max_stage").choices = [("", "No stage limit")] + [
            (n, f"Up to stage {n}") for n in stage_numbers
        ]
        if not patient.requires_clearance:
            # Nothing to end; a note that clears or restricts turns the requirement on.
            choice_field(self, "decision").choices = [
                c for c in Decision.choices if c[0] != Decision.NOT_REQUIRED
            ]

    def clean_document(self) -> Any:
        upload = self.cleaned_data.get("document")
        if upload and upload.size > DOCUMENT_MAX_BYTES:
            # Said here, before the service reads it; the service checks the content.
            self.add_error(
                "document",
                f"The file is {upload.size / 1024 / 1024:.1f} MB; the scanned copy must be "
                f"{ACCEPTED}.",
            )
        return upload

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        signed_on: dt.date | None = data.get("signed_on")
        review_on: dt.date | None = data.get("review_on")
        if signed_on and review_on and review_on < signed_on:
            # The database refuses it too; here it is said next to the date to fix.
            self.add_error("review_on", "The review date cannot be before the date signed.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["document"] = data.get("document") or None
        return data


class PainReviewForm(forms.Form):
    """A therapist's review of a side's pain alert: what was decided, and a note."""

    outcome = forms.ChoiceField(
        choices=[
            (PainOutcome.REGRESSED.value, "Regress one stage"),
            (PainOutcome.CONTINUED.value, "Continue at this stage"),
            (PainOutcome.REFERRED.value, "Referred to the doctor"),
        ],
        label="Decision",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose what you decided: regress, continue or referred.",
            "invalid_choice": "Choose what you decided: regress, continue or referred.",
        },
    )
    note = forms.CharField(
        required=False,
        max_length=1000,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional, e.g. what the patient said when you called.",
    )
    # When the newest painful set shown reached the clinic, written by the page from the alert it
    # shows (not kept from a refused form, which would hold a stale value).
    seen_through = forms.DateTimeField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "The page was out of date: read the alert again, then record your decision.",
            "invalid": "The page was out of date: read the alert again, then record your decision.",
        },
    )

    def clean(self) -> dict[str, Any]:
        # A hidden field's error would show nowhere: put it on top of the form.
        if errors := self.errors.pop("seen_through", None):
            self.add_error(None, errors)
        super().clean()
        return self.cleaned_data
