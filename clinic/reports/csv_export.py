"""CSV downloads of report tables, safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets; a patient's note such as `=HYPERLINK("http://…")` would then
run on a staff member's machine (OWASP "CSV injection"). Every text cell that starts that way is
prefixed with a single quote, which spreadsheets show as plain text. Numbers, dates and empty
cells are written as they are: they come from the database, never from free text.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.text import slugify

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will read it: text that could start a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):  # dates and datetimes alike, in ISO 8601
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse:
    """A UTF-8 CSV attachment (with a byte-order mark, so Excel reads accents right)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slugify(filename)}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
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
