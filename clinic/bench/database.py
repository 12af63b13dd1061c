"""The bench database: rebuilt from scratch on every `make bench`, and never anything else.

A bench run wipes its database. So that a mistyped DATABASE_URL cannot wipe the app's own data, a
database is only rebuilt when its name says it is a bench database ("bench" in the SQLite file
name or the PostgreSQL database name), and never when it is the app's db.sqlite3 or a database
named `test`.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.db import connection


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


def rebuild() -> None:
    """Empty the bench database (drop and create it) and migrate it."""
    name = bench_database_name()
    connection.close()
    if connection.vendor == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
    elif connection.vendor == "postgresql":
        _recreate_postgresql(name)
    else:
        raise NotABenchDatabase(f"No bench support for {connection.vendor}.")
    call_command("migrate", interactive=False, verbosity=0)


def _recreate_postgresql(name: str) -> None:
    import psycopg
    from psycopg import sql

    s = connection.settings_dict
    params = {
        "dbname": "postgres",
        "host": s.get("HOST") or None,
        "port": s.get("PORT") or None,
        "user": s.get("USER") or None,
        "password": s.get("PASSWORD") or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
