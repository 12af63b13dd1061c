"""Many patients logging at once through gunicorn on PostgreSQL while the app's database connections
are cut: every set acknowledged to a client is stored, none twice.

    make test-faults        (PostgreSQL; `make test` leaves these out: they take a while)

The clients behave as the phone app does: a set that gets no answer, a 5xx or a 429 is sent again
with the same body and client_id until it is acknowledged (bounded). A cut connection can fail a
request after its set was committed (the commit reached the server, the answer did not), so a retry
must answer 200 with that stored set, never store a second one.

With FAULTS_RESTART_DB=1 the PostgreSQL server itself is also restarted once mid-run
(`pg_ctlcluster ... restart`): only on a server no one else is using at the time.
"""

import collections
import os
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from clinic.bench import load_client
from clinic.bench.server import gunicorn
from exercises.models import SetLog
from tests.api.helpers import start
from tests.factories import PatientFactory, UserFactory

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the fault test needs PostgreSQL: run `make test-faults`",
    ),
]

PATIENTS = 20
SETS = 1500  # enough that the run outlasts the drops (DROPS × DROP_EVERY) on a fast machine
CLIENTS = 16
WORKERS = 4
DROPS = 8
DROP_EVERY = 0.5  # seconds
RETRIES = 10  # after the first attempt; waits double from 0.05 s to 1 s, about 7 s in all
RESTART = os.environ.get("FAULTS_RESTART_DB") == "1"


def _drop_connections() -> int:
    """Cut every connection to the test database but this one (the gunicorn workers'); returns
    how many were cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ("
            "  SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity"
            "  WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ") AS t WHERE cut"
        )
        return cursor.fetchone()[0]


def _restart_postgresql() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=120,
    )
    connection.close()  # this process's connection went with the restart


def _patients_with_tokens(clinic, therapist) -> list[dict]:
    targets = []
    for _ in range(PATIENTS):
        patient = PatientFactory(clinic=clinic, primary_therapist=therapist, user=UserFactory())
        prescription = start(patient, therapist, days_ago=2)
        token = Token.objects.create(user=patient.user)
        targets.append({"token": token.key, "prescription": prescription.pk})
    return targets


# `reseed_after_flush` first: it tears down after transactional_db's flush and restores the ladder.
def test_every_acknowledged_set_is_stored_once_while_connections_drop(
    reseed_after_flush, transactional_db, clinic, therapist
):
    spec = {
        "endpoint": "log_set",
        "patients": _patients_with_tokens(clinic, therapist),
        "requests": SETS,
        "threads": CLIENTS,
        "time_limit": 180,
        "retries": RETRIES * (3 if RESTART else 1),
        "retry_wait": 0.05,
        "record_sets": True,
    }
    cut = []
    with (
        gunicorn(workers=WORKERS) as server,
        load_client.started({**spec, "base_url": server.base_url}, cwd=settings.BASE_DIR) as run,
    ):
        time.sleep(DROP_EVERY)
        while run.running() and len(cut) < DROPS:
            cut.append(_drop_connections())
            if RESTART and len(cut) == DROPS // 2:
                _restart_postgresql()
            time.sleep(DROP_EVERY)
        result = run.result(timeout=240)

    sets = result["sets"]
    print(  # the numbers docs/security.md quotes (pytest -s shows them)
        f"\n{len(sets)} sets, {len(cut)} drops cutting {sum(cut)} connections"
        f"{' and a PostgreSQL restart' if RESTART else ''}, {result['retries']} retries, "
        f"statuses {result['statuses']}"
    )
    # The run overlapped the drops, and they hit requests in flight.
    assert len(cut) == DROPS and sum(cut) > 0
    assert result["retries"] > 0, "no request failed: the drops tested nothing"

    # Every set was acknowledged in the end (the retries were enough) ...
    assert len(sets) == SETS
    assert [s for s in sets if not s["acknowledged"]] == []
    # ... with a clean answer to each failed attempt: a JSON 503 or no answer, never a 500 page.
    assert set(result["statuses"]) <= {"200", "201", "503", load_client.CONNECTION_ERROR}

    # Stored exactly once each, under the id the client was given, and nothing else stored.
    rows = dict(SetLog.objects.values_list("client_id", "id"))
    counts = collections.Counter(str(c) for c in SetLog.objects.values_list("client_id", flat=True))
    assert [c for c, n in counts.items() if n > 1] == []
    assert SetLog.objects.count() == len(sets) == len({s["client_id"] for s in sets})
    assert {str(c): i for c, i in rows.items()} == {s["client_id"]: s["id"] for s in sets}
    assert SetLog.history.count() == len(sets)

    # A 200 only ever answers a retry of a set whose earlier attempt was in fact stored (the
    # commit landed, the answer was lost); every client_id is new, so a first attempt gets 201.
    for s in sets:
        final, earlier = s["statuses"][-1], s["statuses"][:-1]
        assert final in (200, 201), s
        assert final == 201 or earlier, s
        assert all(status not in (200, 201) for status in earlier), s
