"""Forms for managing patients. They collect and shape input; the services validate and write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_text_html

from clinic.forms import DATE_INPUT, choice_field, display_name
from patients.models import AffectedSide, Clinic, Membership, Patient

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class PatientForm(forms.Form):
    """Create or edit a patient. The clinic is asked only when creating, for a therapist who works
    in more than one clinic; the primary therapist is one of those clinics' therapists."""

    clinic = forms.TypedChoiceField(
        coerce=int,
        label="Clinic",
        error_messages={"invalid_choice": "Choose one of the clinics where you are a therapist."},
    )
    record_number = forms.CharField(
        max_length=40,
        label="Record number",
        help_text="The clinic's medical record number; unique within the clinic.",
    )
    first_name = forms.CharField(max_length=100, label="First name")
    last_name = forms.CharField(max_length=100, label="Last name")
    date_of_birth = forms.DateField(label="Date of birth", widget=DATE_INPUT)
    affected_side = forms.ChoiceField(
        choices=AffectedSide.choices, label="Affected side", widget=forms.RadioSelect
    )
    requires_clearance = forms.BooleanField(
        required=False,
        label_suffix="",
        label="Needs medical clearance before exercising",
        help_text="e.g. after a pelvic fracture: no stage can start until the medical team's "
        "clearance note is recorded. Once set, only a clearance note that says so ends it.",
    )
    clearance_reason = forms.CharField(
        max_length=300,
        required=False,
        label="Why clearance is needed",
        help_text="e.g. pelvic fracture, conservatively managed.",
    )
    primary_therapist = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="Primary therapist",
        error_messages={"invalid_choice": "Choose one of the clinic's therapists."},
    )

    def __init__(
        self,
        *args: Any,
        clinics: list[Clinic],
        ask_clinic: bool,
        clearance_required: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.clinics = {c.pk: c for c in clinics}
        # Once a patient requires clearance, only a clearance note ends it (the service refuses
        # anything else): the form shows the requirement read-only, with a link to record one.
        self.clearance_locked = clearance_required
        if clearance_required:
            for name in ("requires_clearance", "clearance_reason"):
                self.fields[name].disabled = True
        if ask_clinic and len(clinics) > 1:
            choice_field(self, "clinic").choices = [("", "Choose a clinic")] + [
                (c.pk, c.name) for c in clinics
            ]
        else:
            del self.fields["clinic"]
        memberships = (
            Membership.objects.therapists()
            .filter(clinic__in=clinics)
            .select_related("user", "clinic")
            .order_by("clinic__name", "user__first_name", "user__last_name", "user__username")
        )
        self.therapists: dict[int, User] = {}
        groups: dict[str, list[tuple[int, str]]] = {}
        for m in memberships:
            self.therapists[m.user.pk] = m.user
            groups.setdefault(m.clinic.name, []).append((m.user.pk, display_name(m.user)))
        choices: list[Any] = [("", "No primary therapist")]
        if len(groups) > 1:
            choices += list(groups.items())
        else:
            choices += next(iter(groups.values()), [])
        choice_field(self, "primary_therapist").choices = choices

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("requires_clearance") and not (data.get("clearance_reason") or "").strip():
            self.add_error(
                "clearance_reason", "Give the reason clearance is required, e.g. pelvic fracture."
            )
        return data

    @property
    def chosen_clinic(self) -> Clinic:
        if "clinic" in self.fields:
            return self.clinics[self.cleaned_data["clinic"]]
        return next(iter(self.clinics.values()))

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        therapist_id = data["primary_therapist"]
        return {
            "record_number": data["record_number"],
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "date_of_birth": data["date_of_birth"],
            "affected_side": data["affected_side"],
            "requires_clearance": data["requires_clearance"],
            "clearance_reason": data["clearance_reason"] if data["requires_clearance"] else "",
            "primary_therapist": self.therapists.get(therapist_id) if therapist_id else None,
        }

    @staticmethod
    def initial_for(patient: Patient) -> dict[str, Any]:
        return {
            "record_number": patient.record_number,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth,
            "affected_side": patient.affected_side,
            "requires_clearance": patient.requires_clearance,
            "clearance_reason": patient.clearance_reason,
            "primary_therapist": patient.primary_therapist_id,
        }


class PatientLoginForm(forms.Form):
    """A login of the patient's own, with an initial password the therapist hands over."""

    username = forms.CharField(
        max_length=150,
        label="Username",
        help_text="What the patient types to sign in. Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "autocomplete": "off"}),
    )
    password = forms.CharField(
        strip=False,
        label="Initial password",
        help_text=password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        strip=False,
        label="Repeat the password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        password, confirm = data.get("password"), data.get("password_confirm")
        if password and confirm and password != confirm:
            self.add_error("password_confirm", "The two passwords differ; type the same one twice.")
        return data

    @staticmethod
    def suggested_username(patient: Patient) -> str:
        wanted = f"{patient.first_name}.{patient.last_name}".lower().replace(" ", "")
        User = get_user_model()
        return "" if User.objects.filter(username=wanted).exists() else wanted


class PatientLoginActiveForm(forms.Form):
    """Disable a patient's login, or enable it again (the buttons on the patient login page)."""

    active = forms.TypedChoiceField(
        choices=[("0", "Disable"), ("1", "Enable")],
        coerce=lambda value: value == "1",
        error_messages={
            "required": "active: send 1 to enable the login or 0 to disable it.",
            "invalid_choice": "active: send 1 to enable the login or 0 to disable it.",
        },
    )
