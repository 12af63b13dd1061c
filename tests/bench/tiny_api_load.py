"""A tiny API load run on a scratch SQLite bench database, for tests/bench/test_api_load.py.

    python -m tests.bench.tiny_api_load <path to a new SQLite file, its name containing "bench">

It runs in a process of its own because gunicorn must share the database: the test suite's
in-memory SQLite database cannot be shared. Builds the file as `manage.py bench --fresh` does
(rebuilt, marked, migrated, the tiny generated network: the run refuses any other database),
runs `measure_api` with 2 workers and 40 requests per endpoint and prints the result as JSON.
"""

import json
import os
import sys


def main(path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    # Django must be set up before these import models.
    from clinic.bench import database
    from clinic.bench.api_load import measure_api
    from clinic.bench.generate import SIZES, generate_network

    database.rebuild()
    generate_network(SIZES["tiny"])
    print(json.dumps(measure_api(quick=True, workers=2, requests=40)))


if __name__ == "__main__":
    main(sys.argv[1])
