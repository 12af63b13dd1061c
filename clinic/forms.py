"""What every screen's forms share: the date input, a service's errors shown on a form, and how a
user is named in a choice or a history row."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to its field when the form has one.

    Errors keyed by a field the form does not show (and rule violations, which are not keyed at
    all) go to the top of the form, so no message is ever lost.
    """
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    """The form's own copy of a choice field it declares, to set its choices for this form."""
    # `fields` is typed as holding any Field; the form declared this one as a ChoiceField.
    return cast(forms.ChoiceField, form.fields[name])


def model_choice_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    """The form's own copy of a model choice field it declares, to set its queryset."""
    # `fields` is typed as holding any Field; the form declared this one as a ModelChoiceField.
    return cast(forms.ModelChoiceField[Any], form.fields[name])


def display_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()
