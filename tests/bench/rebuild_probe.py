"""Rebuild a scratch SQLite bench database in a process of its own, for tests/bench/test_database.py.

    python -m tests.bench.rebuild_probe <path to a SQLite file>

A rebuild closes, deletes and recreates the database it runs on, which the test suite's own
database must never be. Prints "rebuilt", or "refused: <the reason>".
"""

import os
import sys


def main(path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from clinic.bench import database

    try:
        database.rebuild()
    except database.NotABenchDatabase as exc:
        print(f"refused: {exc}")
    else:
        print("rebuilt")


if __name__ == "__main__":
    main(sys.argv[1])
