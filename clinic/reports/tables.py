"""The clinic report's tables as the page shows them: cells of text, one page of rows at a time.

A `csv_export.Table` holds every row as plain values (what its CSV download holds); a `Shown` is the
page's view of it: the rows of one page, each value as a `Cell` of text. Cells are made for the
rows shown only, so the page's cost does not grow with a table's length.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.urls import reverse

from clinic.reports.csv_export import Table
from patients.models import Patient

# The page lists a table this many rows at a time (`?page_<table>=N`); its CSV download holds every
# row. The per-patient tables (sessions, windows) of a clinic with thousands of patients would
# otherwise be tens of thousands of cells, and the page's cost would grow with the clinic
# (docs/performance.md).
SHOWN_ROWS = 50


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


def cell(value: Any) -> Cell:
    """A value as the page writes it: dates as 01 Jun 2026, numbers to the tenth, yes or no."""
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


@dataclass(frozen=True)
class Pager:
    """Shows each table at the page asked for in `pages` (the request's query: `page_<table>=N`)."""

    pages: Mapping[str, Any]

    def show(self, table: Table, empty: str, patients: Sequence[Patient | None] = ()) -> Shown:
        """Cells for one page of the table (a bad or out-of-range page number shows the first or
        the last page, as a pager's link would); when `patients` is given, each row's first cell
        links to the patient's progression report. A long table says which rows are shown in its
        title."""
        shown = Paginator(range(len(table.rows)), SHOWN_ROWS).get_page(
            self.pages.get(page_parameter(table.name), 1)
        )
        if shown.paginator.num_pages > 1:
            title = (
                f"{table.title} (rows {shown.start_index()}–{shown.end_index()} of "
                f"{len(table.rows)}; the CSV has every row)"
            )
            table = dataclasses.replace(table, title=title)
        cells = []
        for i in shown.object_list:
            line = [cell(v) for v in table.rows[i]]
            patient = patients[i] if i < len(patients) else None
            if patient is not None:
                url = reverse("patient-report", args=[patient.pk])
                line[0] = Cell(line[0].text, href=url)
            cells.append(line)
        return Shown(table, cells, empty, shown)
