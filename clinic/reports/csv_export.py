"""CSV downloads of report tables, safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets; a patient's note such as `=HYPERLINK("http://…")` would then
run on a staff member's machine (OWASP "CSV injection"). Every text cell that starts that way is
prefixed with a single quote, which spreadsheets show as plain text.

A spreadsheet set to a locale whose list separator is `;` (Excel in German or French) splits our
lines on `;` instead, and a cell then starts after any `;` inside a text (`x;=1+1;P10` gives a
cell `=1+1`), as after a line break or, for other readers, a `|` or a tab. So a formula trigger
after one of those (quotes or spaces in between included, since a reader may drop them) gets the
same single quote: `x;'=1+1;P10`. Every text cell, dates and the header included, is written in
double quotes (`csv.QUOTE_NONNUMERIC`), so a `,` reader keeps each text whole; numbers stay bare,
so spreadsheets still read them as numbers (they come from the database, never from free text).
Empty cells are written as `""`.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.text import slugify

# The point just before a formula trigger at the start of a text or after a `;`, `|`, tab or line
# break in it (where a spreadsheet splitting on another separator starts a cell), with any quotes
# or spaces between, which a reader may drop. Zero-width, so each separator of a run is seen.
_FORMULA_AT_A_CELL_START = re.compile(r"""(?:^|(?<=[;|\t\r\n]))(?=[" ]*[=+\-@\t\r])""")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will read it: text that could start a formula, at its start or
    after a `;`, `|`, tab or line break, gets a single quote there."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):  # dates and datetimes alike, in ISO 8601
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    return _FORMULA_AT_A_CELL_START.sub("'", str(value))


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse:
    """A UTF-8 CSV attachment (with a byte-order mark, so Excel reads accents right)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slugify(filename)}.csv"'
    response.write("\ufeff")
    # Every text cell in quotes, numbers bare (see the module's docstring).
    writer = csv.writer(response, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return response


@dataclass(frozen=True)
class Table[R: tuple[Any, ...]]:
    """One table of a report: what the page shows and what `?format=csv&table=<name>` downloads.

    `rows` hold plain values (numbers, dates, text), the same for the page and the file, so the
    download always matches what was on screen; their type is the table's row (a named tuple).
    """

    name: str
    title: str
    header: tuple[str, ...]
    rows: list[R] = field(default_factory=list)


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def table_download(request: HttpRequest, tables: Sequence[Table], filename: str) -> HttpResponse:
    """The CSV of the table named by `?table=`, or 400 naming the tables there are."""
    name = request.GET.get("table", "")
    for table in tables:
        if table.name == name:
            return csv_response(f"{filename}-{table.name}", table.header, table.rows)
    known = ", ".join(t.name for t in tables)
    return HttpResponseBadRequest(
        f"table: choose which table to download ({known}).", content_type="text/plain"
    )
