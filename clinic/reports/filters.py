"""What a report is asked for: the clinic report's filters (clinic, range, therapist, backlog days)
and the patient report's period (`from`, `to`).

Both refuse a day before `EARLIEST` or after today in the clinic's calendar: a report states what
happened. Every error names its field; the views answer a bad filter or period with a 400 and no
figures (docs/reports.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.http import QueryDict

from clinic.accounts.forms import ClinicChoiceForm
from clinic.forms import DATE_INPUT, display_name, model_choice_field
from clinic.reports.clinic_figures import DEFAULT_DAYS, DEFAULT_READY_DAYS, Scope
from patients.models import Clinic, Role

# Reports are about care given: no day before this, none after today. Far enough back for any
# record; earlier dates only risk calendar overflow at the zone's edge.
EARLIEST = dt.date(1900, 1, 1)
# The clinic report's longest range: a year, with a leap day.
MAX_DAYS = 366


class _TherapistChoice(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: User) -> str:
        return display_name(obj)


class ReportFilters(ClinicChoiceForm):
    """The clinic report's filters; the range defaults to the `DEFAULT_DAYS` ending today."""

    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    therapist = _TherapistChoice(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="All therapists",
        help_text="Patients whose primary therapist this is.",
    )
    ready_days = forms.IntegerField(
        label="Ready for more than (days)",
        min_value=0,
        max_value=90,
        required=False,
        help_text="How long a readiness may wait for a decision before it counts as backlog.",
    )

    def __init__(self, data: QueryDict, *, user: User | AnonymousUser, now: dt.datetime) -> None:
        super().__init__(data, user=user)
        self.now = now
        model_choice_field(self, "therapist").queryset = (
            get_user_model()
            .objects.filter(memberships__clinic__in=self.clinics, memberships__role=Role.THERAPIST)
            .distinct()
            .order_by("last_name", "first_name", "username")
        )
        # A bare /reports/ shows a report with the defaults filled in.
        if not self.data.get("ready_days"):
            self.data["ready_days"] = str(DEFAULT_READY_DAYS)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        clinic: Clinic | None = data.get("clinic")
        if clinic is None:
            return data
        today = clinic.local_date(self.now)
        for name in ("start", "end"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= today:
                self.add_error(
                    name, f"Choose a day from {EARLIEST:%d %b %Y} to today ({today:%d %b %Y})."
                )
                data.pop(name, None)
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if "end" not in self.errors and "start" not in self.errors:
            if start > end:
                self.add_error("start", "The first day must be on or before the last day.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("start", f"Choose at most {MAX_DAYS} days.")
        therapist = data.get("therapist")
        if (
            therapist is not None
            and not clinic.memberships.filter(user=therapist, role=Role.THERAPIST).exists()
        ):
            self.add_error("therapist", f"This therapist does not work at {clinic.name}.")
        data["start"], data["end"] = start, end
        return data

    def scope(self) -> Scope:
        """Whose figures, over which days: the valid filters, defaults filled in."""
        data = self.cleaned_data
        return Scope(
            clinic=data["clinic"],
            first=data["start"],
            last=data["end"],
            now=self.now,
            therapist=data["therapist"],
            ready_days=data["ready_days"],
        )


class PeriodForm(forms.Form):
    """`from` and `to`, both optional, as ISO dates (clinic days). Named like the URL parameters:
    `from` is a Python keyword, so the fields are added in `__init__`."""

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                # One unambiguous format: 03/11 is March in one country and November in another.
                input_formats=["%Y-%m-%d"],
                error_messages={"invalid": "enter a real date as YYYY-MM-DD, e.g. 2026-11-03."},
                widget=DATE_INPUT,
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("from", "to"):
            day = data.get(name)
            if day is not None and day < EARLIEST:
                self.add_error(name, f"{day:%Y-%m-%d} is before {EARLIEST:%Y-%m-%d}.")
            elif day is not None and day > self.today:
                # A report states what happened; a period into the future would read as complete.
                self.add_error(
                    name,
                    f"{day:%Y-%m-%d} is after today ({self.today:%Y-%m-%d} in the clinic's "
                    f"time zone).",
                )
        first, last = self.cleaned_data.get("from"), self.cleaned_data.get("to")
        if first and last and first > last:
            self.add_error(
                "from",
                f"{first:%Y-%m-%d} is after to ({last:%Y-%m-%d}); the period must start on or "
                f"before its last day.",
            )
        return self.cleaned_data

    def messages(self) -> list[str]:
        """One line per error, each naming its field: `from: …`."""
        return [f"{name}: {error}" for name, errors in self.errors.items() for error in errors]
