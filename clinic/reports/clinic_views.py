"""The clinic report at `/reports/`: for staff and therapists of a clinic, over a date range and
optionally one therapist's caseload. Every table downloads as CSV (`?format=csv&table=<name>`) with
the filters of the page. The figures come from `clinic.reports.clinic_figures` (defined in docs/reports.md).

Roles at the door: signed in with a role in some clinic (`requires(is_clinic_staff)`; a patient
gets 403); the clinic chosen must be one of the user's, otherwise 404, the same as for a clinic
that does not exist, so no one ever sees another clinic's figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.accounts.access import requires
from clinic.accounts.forms import ClinicChoiceForm
from clinic.audit.recording import report_access
from clinic.charts.report import ReportChart, Spread, bar_chart, spread_chart
from clinic.reports import clinic_figures as figures
from clinic.reports.csv_export import Table, table_download, wants_csv
from exercises.adherence import AdherenceBand
from exercises.models import ChangeReason
from patients.access import is_clinic_staff
from patients.access_events import recorded
from patients.models import Clinic, Patient, Role, Side
from patients.thresholds import WINDOW_DAYS

DEFAULT_DAYS = WINDOW_DAYS  # one monitoring window's length: the period a payer usually asks about
# The page lists a table this many rows at a time (`?page_<table>=N`); its CSV download holds every
# row. The per-patient tables (sessions, windows) of a clinic with thousands of patients would
# otherwise be tens of thousands of cells, and the page's cost would grow with the clinic
# (docs/performance.md).
SHOWN_ROWS = 50
MAX_DAYS = 366
# Reports are about care given: no day before this, none after today.
EARLIEST = dt.date(1900, 1, 1)


class ReportFilters(ClinicChoiceForm):
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    therapist = forms.ModelChoiceField(
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

    def __init__(self, data: Any, *, user: AbstractBaseUser, now: dt.datetime) -> None:
        super().__init__(data, user=user)
        self.now = now
        self.fields["therapist"].queryset = (
            get_user_model()
            .objects.filter(memberships__clinic__in=self.clinics, memberships__role=Role.THERAPIST)
            .distinct()
            .order_by("last_name", "first_name", "username")
        )
        self.fields["therapist"].label_from_instance = lambda u: u.get_full_name() or u.username
        # A bare /reports/ shows a report with the defaults filled in.
        if not self.data.get("ready_days"):
            self.data["ready_days"] = str(figures.DEFAULT_READY_DAYS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
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


@dataclass(frozen=True)
class Cell:
    text: str
    num: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Shown:
    """A table as the page shows it, one page of rows at a time; `table` is what its CSV holds."""

    table: Table
    cells: list[list[Cell]]
    empty: str
    page: Page

    @property
    def page_parameter(self) -> str:
        return page_parameter(self.table.name)

    @property
    def previous_page(self) -> dict[str, int] | None:
        """The query that shows the previous page of this table (the other tables keep theirs)."""
        if not self.page.has_previous():
            return None
        return {self.page_parameter: self.page.previous_page_number()}

    @property
    def next_page(self) -> dict[str, int] | None:
        if not self.page.has_next():
            return None
        return {self.page_parameter: self.page.next_page_number()}

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def header(self) -> list[Cell]:
        """Column headings, right-aligned over columns of numbers."""
        numeric = {i for row in self.cells for i, cell in enumerate(row) if cell.num}
        return [Cell(h, num=i in numeric) for i, h in enumerate(self.table.header)]


def _text(value: Any) -> Cell:
    if value is None:
        return Cell("—")
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if isinstance(value, dt.date):
        return Cell(f"{value:%d %b %Y}")
    if isinstance(value, float):
        return Cell(f"{value:.1f}", num=True)
    if isinstance(value, int):
        return Cell(str(value), num=True)
    return Cell(str(value))


def page_parameter(table: str) -> str:
    return f"page_{table}"


def _page_of(
    table: Table, empty: str, patients: Sequence[Patient | None] = (), *, page: Any = 1
) -> Shown:
    """Cells for one page of the table (`page`: the number asked for; a bad or out-of-range one
    shows the first or the last page, as a pager's link would); when `patients` is given, each
    row's first cell links to the patient's progression report. Cells are made for the rows shown
    only. A long table says which rows are shown in its title."""
    shown = Paginator(range(len(table.rows)), SHOWN_ROWS).get_page(page)
    if shown.paginator.num_pages > 1:
        title = (
            f"{table.title} (rows {shown.start_index()}–{shown.end_index()} of "
            f"{len(table.rows)}; the CSV has every row)"
        )
        table = dataclasses.replace(table, title=title)
    cells = []
    for i in shown.object_list:
        line = [_text(v) for v in table.rows[i]]
        if i < len(patients) and patients[i] is not None:
            url = reverse("patient-report", args=[patients[i].pk])
            line[0] = Cell(line[0].text, href=url)
        cells.append(line)
    return Shown(table, cells, empty, shown)


def _one(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _side(side: str) -> str:
    return Side(side).label


@dataclass
class Report:
    scope: figures.Scope
    summary: dict[str, Any]
    tables: dict[str, Shown]
    charts: dict[str, ReportChart]

    @property
    def all_tables(self) -> list[Table]:
        return [shown.table for shown in self.tables.values()]


def build_report(scope: figures.Scope, pages: Mapping[str, Any] | None = None) -> Report:
    """The report's figures, tables and charts; `pages` holds the page asked for of each long
    table (the request's query: `page_<table>=N`)."""
    first, last = scope.first, scope.last
    tables: dict[str, Shown] = {}
    charts: dict[str, ReportChart] = {}
    pages = pages or {}

    def _shown(table: Table, empty: str, patients: Sequence[Patient | None] = ()) -> Shown:
        return _page_of(table, empty, patients, page=pages.get(page_parameter(table.name), 1))

    # Progression
    distribution = figures.stage_distribution(scope)
    at_end_label = f"{min(last, scope.today):%d %b}"
    tables["stages"] = _shown(
        Table(
            "stages",
            "Patients per stage and side",
            (
                "Stage",
                "Side",
                f"At start ({first:%d %b})",
                f"At end ({at_end_label})",
                "Change",
            ),
            [
                (f"{c.stage.number}: {c.stage.name}", _side(c.side), c.at_start, c.at_end, c.change)
                for c in distribution
            ],
        ),
        "No stages.",
    )
    charts["stages"] = bar_chart(
        element_id="chart-stages",
        title=f"Patients per stage and side, {first:%d %b} and {at_end_label}",
        description=" ".join(
            f"Stage {c.stage.number} {c.side}: {c.at_start} then {c.at_end}." for c in distribution
        ),
        groups=[
            (f"Stage {c.stage.number}, {c.side}", (c.at_start, c.at_end)) for c in distribution
        ],
        series=[f"At start ({first:%d %b})", f"At end ({at_end_label})"],
    )
    changes = figures.changes_by_reason(scope)
    tables["changes"] = _shown(
        Table(
            "changes",
            "Stage changes in the range",
            ("Change", "Count"),
            [(ChangeReason(reason).label, n) for reason, n in changes.items()],
        ),
        "No stage changes.",
    )
    spent = figures.time_at_stage(scope)
    tables["time_at_stage"] = _shown(
        Table(
            "time_at_stage",
            "Days at a stage before progressing",
            ("Stage", "Progressions", "Shortest", "25th pct", "Median", "75th pct", "Longest"),
            [
                (
                    f"Stage {t.stage.number}",
                    t.progressions,
                    _one(t.shortest),
                    _one(t.q1),
                    _one(t.median),
                    _one(t.q3),
                    _one(t.longest),
                )
                for t in spent
            ],
        ),
        "No one progressed in this range.",
    )
    if spent:
        charts["time_at_stage"] = spread_chart(
            element_id="chart-time-at-stage",
            title="Days at each stage before progressing",
            description=" ".join(
                f"Stage {t.stage.number}: median {t.median:.1f} days, middle half "
                f"{t.q1:.1f} to {t.q3:.1f}, {t.progressions} progressions."
                for t in spent
            ),
            rows=[
                Spread(
                    f"Stage {t.stage.number}",
                    t.shortest,
                    t.q1,
                    t.median,
                    t.q3,
                    t.longest,
                    t.progressions,
                )
                for t in spent
            ],
            unit="days",
        )

    # Readiness backlog
    backlog = figures.readiness_backlog(scope)
    tables["backlog"] = _shown(
        Table(
            "backlog",
            f"Ready to progress for more than {scope.ready_days} days",
            ("Patient", "Record", "Side", "Stage", "Ready since", "Days waiting", "Next step"),
            [
                (
                    w.patient.full_name,
                    w.patient.record_number,
                    _side(w.prescription.side),
                    w.prescription.stage.number,
                    scope.clinic.local_date(w.ready_since),
                    w.days,
                    f"Stage {w.next_stage.number}" if w.next_stage else "Ladder complete",
                )
                for w in backlog
            ],
        ),
        "No readiness has waited that long.",
        [w.patient for w in backlog],
    )

    # Pain
    pain = figures.pain(scope)
    above = scope.clinic.pain_alert_above
    tables["pain"] = _shown(
        Table(
            "pain",
            "Pain in the range",
            ("Figure", "Value"),
            [
                ("Valid sets logged", pain.sets),
                (
                    f"Sets above the pain alert threshold (clinic: above {above}/10)",
                    pain.painful_sets,
                ),
                ("Patients with such a set", pain.painful_patients),
                ("Sides with an open pain alert now", len(pain.open_alerts)),
            ],
        ),
        "",
    )
    tables["pain_alerts"] = _shown(
        Table(
            "pain_alerts",
            "Open pain alerts (painful sets not yet reviewed by a therapist)",
            ("Patient", "Record", "Side", "Stage", "Highest pain", "On", "Sets not reviewed"),
            [
                (
                    p.patient.full_name,
                    p.patient.record_number,
                    _side(p.side),
                    p.alert.stage,
                    p.alert.highest_pain,
                    scope.clinic.local_date(p.alert.highest_at),
                    p.alert.sets,
                )
                for p in pain.open_alerts
            ],
        ),
        "No open pain alerts.",
        [p.patient for p in pain.open_alerts],
    )

    # Adherence: sessions per week
    sessions = figures.sessions_per_week(scope)
    judged = [s for s in sessions if s.judged]
    met = sum(1 for s in judged if s.met)
    tables["sessions"] = _shown(
        Table(
            "sessions",
            "Sessions per week against target, per side",
            (
                "Patient",
                "Record",
                "Side",
                "Sessions",
                "Days prescribed",
                "Sessions per week",
                "Target per week",
                "Target met",
            ),
            [
                (
                    s.patient.full_name,
                    s.patient.record_number,
                    _side(s.side),
                    s.sessions,
                    _one(s.days_prescribed),
                    _one(s.per_week),
                    _one(s.target),
                    s.met,
                )
                for s in sessions
            ],
        ),
        "No side was prescribed in this range.",
        [s.patient for s in sessions],
    )

    # Adherence: monitoring windows
    windows = figures.monitoring_windows(scope)
    tables["windows"] = _shown(
        Table(
            "windows",
            f"Monitoring windows ({WINDOW_DAYS} days from the start of monitoring)",
            ("Patient", "Record", "Window", "First day", "Last day", "Data days", "Band", "Status"),
            [
                (
                    w.patient.full_name,
                    w.patient.record_number,
                    w.number,
                    w.first,
                    w.last,
                    w.data_days,
                    w.band.label,
                    w.status.label,
                )
                for w in windows
            ],
        ),
        "No one was monitored in this range.",
        [w.patient for w in windows],
    )
    ended = [w for w in windows if w.ended and w.last >= first]
    open_ = [w for w in windows if not w.ended]
    band_rows = [
        (
            band.label,
            sum(1 for w in ended if w.band == band),
            sum(1 for w in open_ if w.band == band),
        )
        for band in AdherenceBand
    ]
    tables["bands"] = _shown(
        Table(
            "bands",
            "Monitoring windows per data-day band",
            ("Data days", "Windows ended in the range", "Windows still open (so far)"),
            band_rows,
        ),
        "",
    )
    charts["bands"] = bar_chart(
        element_id="chart-bands",
        title="Monitoring windows per data-day band",
        description=" ".join(
            f"{label}: {n_ended} ended, {n_open} still open."
            for label, n_ended, n_open in band_rows
        ),
        groups=[(label, (n_ended, n_open)) for label, n_ended, n_open in band_rows],
        series=["Ended in the range", "Still open (so far)"],
    )

    # Clearance
    clearance = figures.clearance(scope)
    tables["clearance_waiting"] = _shown(
        Table(
            "clearance_waiting",
            "Waiting for clearance",
            ("Patient", "Record", "Why"),
            [(p.full_name, p.record_number, why) for p, why in clearance.waiting],
        ),
        "No one is waiting for clearance.",
        [p for p, _ in clearance.waiting],
    )
    tables["clearance_review"] = _shown(
        Table(
            "clearance_review",
            f"Clearances due for review within {scope.clinic.review_soon_days} days",
            ("Patient", "Record", "Review on", "Signed by"),
            [
                (
                    p.full_name,
                    p.record_number,
                    note.review_on,
                    f"{note.signed_by_name} ({note.signed_by_credentials})",
                )
                for p, note in clearance.due_for_review
            ],
        ),
        "No clearance is due for review.",
        [p for p, _ in clearance.due_for_review],
    )

    summary = {
        "progressed": changes[ChangeReason.PROGRESSED],
        "regressed": changes[ChangeReason.REGRESSED],
        "stopped": changes[ChangeReason.STOPPED],
        "backlog": len(backlog),
        "painful_sets": pain.painful_sets,
        "pain_alerts": len(pain.open_alerts),
        "sides_judged": len(judged),
        "sides_met": met,
        "ended_windows": len(ended),
        "ended_16_plus": sum(1 for w in ended if w.band == AdherenceBand.DAYS_16_30),
        "waiting": len(clearance.waiting),
        "due_for_review": len(clearance.due_for_review),
    }
    return Report(scope, summary, tables, charts)


@require_GET
@requires(is_clinic_staff)
def clinic_report(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = ReportFilters(request.GET, user=request.user, now=now)
    if not form.is_valid():
        if "clinic" in form.errors:
            # Another clinic's id (or none that exists): the same answer either way.
            raise Http404("No such clinic.")
        return render(request, "clinic/reports/clinic_report.html", {"form": form}, status=400)
    data = form.cleaned_data
    clinic: Clinic = data["clinic"]
    # Show the dates the report covers in the form, defaults included.
    form.data["start"], form.data["end"] = data["start"].isoformat(), data["end"].isoformat()
    scope = figures.Scope(
        clinic=clinic,
        first=data["start"],
        last=data["end"],
        now=now,
        therapist=data["therapist"],
        ready_days=data["ready_days"],
    )
    with timezone.override(clinic.tzinfo):
        report = build_report(scope, pages=request.GET)
        if wants_csv(request):
            return recorded(
                table_download(
                    request, report.all_tables, f"{clinic.slug}-{scope.first}-{scope.last}"
                ),
                **report_access(request, scope, clinic=clinic),
            )
        query = request.GET.copy()
        query.pop("format", None)
        query.pop("table", None)
        return render(
            request,
            "clinic/reports/clinic_report.html",
            {
                "form": form,
                "report": report,
                "scope": scope,
                "query": query.urlencode(),
                "generated_at": now,
            },
        )
