"""Date arithmetic the ORM does not ship, written for both databases we run on.

Reports count calendar days and 30-day windows in the database rather than in Python; these give
SQLite and PostgreSQL the same answer (tests run the reports on both).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Func, IntegerField


class DaysBetween(Func):
    """Whole days from the second date to the first (`later - earlier`), as an integer.

    PostgreSQL subtracts two dates to an integer natively; SQLite stores dates as ISO text, so the
    difference goes through `julianday` (exact for whole dates, which is all this is given).
    """

    arity = 2
    output_field = IntegerField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" - ", **extra_context
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra_context,
        )
