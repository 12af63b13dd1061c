"""The therapist dashboard: the caseload with each side's stage, adherence and alerts.

One page, filtered, searched, sorted and paginated by GET parameters, so every state is a plain
link that works without JavaScript; with htmx the same request returns only the `#table` partial.

Cost: a fixed number of queries whatever the size of the caseload. Filtering by alert and sorting
by alerts, last log or data days must see the *whole* caseload, not one page, so the summary that
drives them (`exercises.caseload.summaries_for`: alerts computed in Python from three queries, last
log, data days) is computed for every patient the other filters let through; that is bounded by
the caseload (a few hundred patients per clinic) and reads only small rows. The per-side figures
(`sides_for`) are then computed for the 25 patients of the page only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.forms import choice_field
from clinic.http import AuthenticatedRequest
from exercises.caseload import SideFigures, Summary, sides_for, summaries_for
from exercises.models import Prescription, Stage
from exercises.progression import ALERT_ORDER, AlertKind
from patients.access import clinics_for, is_therapist
from patients.models import Clinic, Patient, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PAGE_SIZE = 25
SEARCH_MAX_LENGTH = 100
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)

WHO_CHOICES = [("mine", "My patients"), ("clinic", "Whole clinic")]
SORT_CHOICES = [
    ("alerts", "Alerts, most urgent first"),
    ("name", "Name"),
    ("last_log", "Last log, oldest first"),
    ("data_days", "Data days this window, fewest first"),
]
ALERT_CHOICES = [
    ("", "All patients"),
    ("any", "Any alert"),
    *((kind.value, kind.title) for kind in ALERT_ORDER),
]


class CaseloadFilters(forms.Form):
    """The dashboard's GET parameters. A bad value falls back to its default, never to an error."""

    q = forms.CharField(required=False, max_length=SEARCH_MAX_LENGTH, strip=True)
    who = forms.ChoiceField(required=False, choices=WHO_CHOICES)
    alert = forms.ChoiceField(required=False, choices=ALERT_CHOICES)
    stage = forms.ChoiceField(required=False)
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, stages: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "stage").choices = [
            ("", "Any stage"),
            *((str(n), f"Stage {n}") for n in stages),
            ("none", "Not started"),
        ]

    def value(self, name: str) -> str:
        self.is_valid()
        return self.cleaned_data.get(name) or ""


@dataclass(frozen=True)
class Filters:
    q: str
    who: str
    alert: str
    stage: str
    sort: str

    @classmethod
    def from_form(cls, form: CaseloadFilters) -> Filters:
        return cls(
            q=form.value("q"),
            who=form.value("who") or "mine",
            alert=form.value("alert"),
            stage=form.value("stage"),
            sort=form.value("sort") or "alerts",
        )

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond "whose patients" narrows the list (for the empty state)."""
        return bool(self.q or self.alert or self.stage)


@dataclass(frozen=True)
class Row:
    summary: Summary
    sides: tuple[SideFigures, ...]
    mine: bool
    today: dt.date

    @property
    def patient(self) -> Patient:
        return self.summary.patient

    @property
    def days_since_last_log(self) -> int | None:
        last = self.summary.last_log_on
        return None if last is None else (self.today - last).days


@require_GET
@requires(is_therapist)
def dashboard(request: AuthenticatedRequest) -> HttpResponse:
    clinics = list(clinics_for(request.user, Role.THERAPIST))
    form = CaseloadFilters(request.GET, stages=_stage_numbers())
    filters = Filters.from_form(form)
    page, rows = _caseload_page(request.user, clinics, filters, request.GET.get("page"))
    context = {
        "clinics": clinics,
        "filters": filters,
        "page": page,
        "rows": rows,
        "who_choices": WHO_CHOICES,
        "alert_choices": ALERT_CHOICES,
        "stage_choices": choice_field(form, "stage").choices,
        "sort_choices": SORT_CHOICES,
        "search_max_length": SEARCH_MAX_LENGTH,
    }
    partial = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    template = (
        "clinic/caseload/dashboard.html#table" if partial else "clinic/caseload/dashboard.html"
    )
    response = render(request, template, context)
    # One URL answers with a fragment or a page: caches and the browser must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


def _caseload_page(
    user: User, clinics: list[Clinic], filters: Filters, number: str | None
) -> tuple[Page[Patient], list[Row]]:
    now = timezone.now()
    patients = _caseload(user, clinics, filters)
    # The whole caseload (after the SQL filters) is summarised, so that filtering by alert and
    # sorting see every patient, not one page; the per-side figures are for the page only.
    summaries = summaries_for(patients, now=now)
    matching = _sorted(_with_alert(patients, summaries, filters.alert), summaries, user, filters)
    page = Paginator(matching, PAGE_SIZE).get_page(number)
    sides = sides_for(list(page.object_list), now=now)
    rows = [
        Row(
            summaries[p.pk],
            sides[p.pk],
            p.primary_therapist_id == user.pk,
            p.clinic.local_date(now),
        )
        for p in page.object_list
    ]
    return page, rows


def _stage_numbers() -> list[int]:
    # From the data, not a constant: the ladder's rungs are data (docs/domain.md, "The
    # clinical content").
    return list(Stage.objects.order_by("number").values_list("number", flat=True).distinct())


def _caseload(user: User, clinics: list[Clinic], filters: Filters) -> list[Patient]:
    """Active patients of the therapist's clinics, narrowed by whose, stage and search (in SQL)."""
    patients = (
        Patient.objects.active()
        .filter(clinic__in=clinics)
        .select_related("clinic", "primary_therapist")
    )
    if filters.who == "mine":
        patients = patients.filter(primary_therapist=user)
    if filters.stage == "none":
        patients = patients.exclude(
            Exists(Prescription.objects.active().filter(patient=OuterRef("pk")))
        )
    elif filters.stage:
        patients = patients.filter(
            Exists(
                Prescription.objects.active().filter(
                    patient=OuterRef("pk"), stage__number=int(filters.stage)
                )
            )
        )
    for term in filters.q.split():
        patients = patients.filter(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(record_number__icontains=term)
        )
    return list(patients)


def _with_alert(
    patients: list[Patient], summaries: dict[int, Summary], alert: str
) -> list[Patient]:
    if not alert:
        return patients
    if alert == "any":
        return [p for p in patients if summaries[p.pk].alerts]
    kind = AlertKind(alert)
    return [p for p in patients if any(a.kind == kind for a in summaries[p.pk].alerts)]


def _sorted(
    patients: list[Patient],
    summaries: dict[int, Summary],
    user: User,
    filters: Filters,
) -> list[Patient]:
    def name(p: Patient) -> tuple[str, str, int]:
        return (p.last_name.casefold(), p.first_name.casefold(), p.pk)

    def key(p: Patient) -> tuple[Any, ...]:
        s = summaries[p.pk]
        match filters.sort:
            case "last_log":  # never logged first, then the longest silence
                return (s.last_log_at is not None, s.last_log_at or _NEVER, name(p))
            case "data_days":  # in today's monitoring window
                return (s.window_data_days, name(p))
            case "alerts":  # the most urgent kind first, then the most alerts
                urgency = min(
                    (ALERT_ORDER.index(a.kind) for a in s.alerts), default=len(ALERT_ORDER)
                )
                return (urgency, -len(s.alerts), name(p))
            case _:
                return name(p)

    # In the whole-clinic view the therapist's own patients still come first
    # (docs/screens.md, "Therapist dashboard").
    return sorted(patients, key=lambda p: (p.primary_therapist_id != user.pk, key(p)))
