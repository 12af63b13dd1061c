"""The bench database: rebuilt from scratch on every `make bench`, and never anything else.

A bench run wipes its database, and its API part writes sets into the patients it finds. So that
a mistyped DATABASE_URL can neither wipe nor write into the app's own data:

- a database is only rebuilt when its name says it is a bench database ("bench" in the SQLite file
  name or the PostgreSQL database name), never when it is the app's db.sqlite3 or a database named
  `test`;
- and, if it already exists, only when it holds no clinic but generated ones (slugs `bench-NN`)
  and, if it has any table, it carries the marker a rebuild writes: a database that was never
  rebuilt by the bench is not the bench's to wipe, whatever its name;
- the measurements run only on a database that carries the marker and holds generated clinics
  only (`require_bench_database`).

The marker lives outside the tables, so the migrations know nothing of it: SQLite's
`application_id` header field (made for saying which application a file belongs to) and, on
PostgreSQL, the database's comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management import call_command
from django.db import connection

from clinic.bench.generate import GENERATED_SLUG

if TYPE_CHECKING:
    import psycopg

# "Cbch" in ASCII: the SQLite header's application_id of a bench database.
SQLITE_APPLICATION_ID = 0x43626368
POSTGRESQL_COMMENT = "clamshell bench database: wiped and rebuilt by manage.py bench --fresh"


class NotABenchDatabase(Exception):
    pass


def bench_database_name() -> str:
    settings = connection.settings_dict
    name = str(settings["NAME"])
    label = Path(name).name if connection.vendor == "sqlite" else name
    if "bench" not in label.lower() or label in ("db.sqlite3", "test"):
        raise NotABenchDatabase(
            f"Refusing to rebuild the database {name!r}: a bench run wipes its database, so its "
            "name must contain 'bench' (e.g. DATABASE_URL=sqlite:///bench.sqlite3 or "
            "postgres://…/clamshell_bench)."
        )
    return name


def has_marker() -> bool:
    """Whether the current database carries the marker a rebuild writes."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA application_id")
            return cursor.fetchone()[0] == SQLITE_APPLICATION_ID
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        row = cursor.fetchone()
        return row is not None and row[0] == POSTGRESQL_COMMENT


def mark() -> None:
    """Write the marker into the current database (a rebuild does; so do tests of the guard)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA application_id = {SQLITE_APPLICATION_ID}")
            return
        cursor.execute("SELECT current_database()")
        name = cursor.fetchone()[0]
        cursor.execute(
            f"COMMENT ON DATABASE {connection.ops.quote_name(name)} IS %s", [POSTGRESQL_COMMENT]
        )


def real_clinics(limit: int = 3) -> list[str]:
    """Slugs of clinics the generator did not write (none in a bench database)."""
    from patients.models import Clinic

    if Clinic._meta.db_table not in connection.introspection.table_names():
        return []
    return list(
        Clinic.objects.exclude(slug__regex=GENERATED_SLUG)
        .order_by("slug")
        .values_list("slug", flat=True)[:limit]
    )


def contents_problem() -> str | None:
    """Why the current database's contents say it is not a bench database, or None."""
    clinics = real_clinics()
    if clinics:
        return (
            f"it holds clinics the bench did not generate ({', '.join(clinics)}…), so it holds "
            "real records"
        )
    if connection.introspection.table_names() and not has_marker():
        return (
            "it has tables but not the marker a bench rebuild writes (a bench database built "
            "before the marker existed must be removed by hand once: delete the SQLite file, or "
            "`dropdb` the PostgreSQL database)"
        )
    return None


def require_bench_database() -> None:
    """Refuse to measure (the API part writes sets and tokens) outside a bench database."""
    problem = contents_problem()
    if problem is None and not has_marker():
        problem = "it was not built by a bench rebuild"
    if problem:
        raise NotABenchDatabase(
            f"Refusing to measure on the database {connection.settings_dict['NAME']!r}: "
            f"{problem}. Run `make bench` (or `manage.py bench --fresh` with a DATABASE_URL "
            "whose database name contains 'bench') to build a bench database."
        )


def rebuild() -> None:
    """Empty the bench database (drop and create it), mark it and migrate it."""
    name = bench_database_name()
    if _exists(name):
        problem = contents_problem()
        if problem:
            raise NotABenchDatabase(f"Refusing to rebuild the database {name!r}: {problem}.")
    connection.close()
    if connection.vendor == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
    elif connection.vendor == "postgresql":
        _recreate_postgresql(name)
    else:
        raise NotABenchDatabase(f"No bench support for {connection.vendor}.")
    mark()
    call_command("migrate", interactive=False, verbosity=0)


def _exists(name: str) -> bool:
    if connection.vendor == "sqlite":
        # Connecting would create the file: look first.
        return Path(name).exists()
    with _admin() as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def _admin() -> psycopg.Connection[Any]:
    """A connection to the server's `postgres` database, to drop and create the bench one."""
    import psycopg

    s = connection.settings_dict
    params: dict[str, Any] = {
        "dbname": "postgres",
        "host": s.get("HOST") or None,
        "port": s.get("PORT") or None,
        "user": s.get("USER") or None,
        "password": s.get("PASSWORD") or None,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def _recreate_postgresql(name: str) -> None:
    from psycopg import sql

    with _admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
