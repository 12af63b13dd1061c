"""The sign-in forms, and the choice of one of a user's clinics that the clinic-wide screens start
with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.http import QueryDict

from clinic.forms import model_choice_field
from patients.access import clinics_for
from patients.models import Clinic

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class _UsernameLimit:
    """Django's sign-in form sets the username's max_length after the field is built, so the
    limit reaches the HTML but is never checked: a 100,000-character username went on to the
    password check and to the lockout's record of the attempt (a 255-character column, a 500 on
    PostgreSQL). Checking it here refuses it as a form error before anything is looked up."""

    fields: dict[str, forms.Field]  # the sign-in form's, which this class comes before

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Django's UsernameField, a CharField.
        field = cast(forms.CharField, self.fields["username"])
        field.validators.append(MaxLengthValidator(field.max_length))


class ClinicChoiceForm(forms.Form):
    """A filter form that starts with a choice of one of the user's clinics (the clinic report,
    the access log). A bare page shows the first of them; a clinic that is not the user's fails
    validation like one that does not exist, which the views answer with 404."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)

    data: QueryDict  # a copy of the query string, which may be given the first clinic

    def __init__(self, data: QueryDict, *, user: User | AnonymousUser) -> None:
        super().__init__(data)
        self.clinics = clinics_for(user).order_by("name")
        model_choice_field(self, "clinic").queryset = self.clinics
        self.data = self.data.copy()
        if not self.data.get("clinic"):
            first = self.clinics.first()
            self.data["clinic"] = str(first.pk) if first else ""


class SignInForm(_UsernameLimit, AuthenticationForm):
    """The sign-in page's form."""


class AdminSignInForm(_UsernameLimit, AdminAuthenticationForm):
    """The admin's sign-in form."""
