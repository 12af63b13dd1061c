"""The API load run end to end, tiny: gunicorn with 2 workers on a scratch SQLite bench database
(the tiny generated network), 40 requests to each endpoint from a second process. Every set
acknowledged is stored, nothing else is, and none fails: with two workers writing one SQLite file,
a "database is locked" answers 503 (before the SQLite options in clinic/settings.py, about a
quarter of the writes did). Also, in-process: the stored-rows accounting catches a lost and an
extra write, a run cut short by its time limit is flagged, and the run refuses a database that is
not a bench database and patients of a clinic the generator did not write."""

import http.server
import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from clinic.bench import load_client
from clinic.bench.api_load import measure_api, patients_who_can_log, stored_tally, targets_met
from clinic.bench.database import NotABenchDatabase
from clinic.bench.generate import SIZES, generate_network
from tests.factories import PrescriptionFactory, SetLogFactory, UserFactory

BLOCK = {"requests", "errors", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "stored"}


def test_a_tiny_load_run_answers_every_request_and_stores_every_acknowledged_set(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.tiny_api_load", str(tmp_path / "api-bench.sqlite3")],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert (result["database"], result["workers"]) == ("sqlite", 2)
    assert result["patients"] >= 10
    for name in ("log_set", "trivial"):
        assert set(result[name]) >= BLOCK, name
        assert result[name]["requests"] == result[name]["planned"] == 40, result[name]
        assert not result[name]["cut_short"]
        assert result[name]["errors"] == 0, result[name]["error_samples"]
        assert result[name]["p50_ms"] <= result[name]["p95_ms"] <= result[name]["p99_ms"]
    assert result["log_set"]["statuses"] == {"201": 40}
    assert result["trivial"]["statuses"] == {"204": 40}
    assert result["log_set"]["stored"] == result["log_set"]["acknowledged"] == 40
    assert result["log_set"]["stored_unacknowledged"] == result["log_set"]["lost"] == 0
    assert result["trivial"]["stored"] is None
    assert result["throughput_ratio"] > 0
    assert result["p99_over_p50"] >= 1
    assert set(result["targets"]) == {
        "throughput_ratio_at_least_0_5",
        "p99_at_most_4x_p50",
        "no_errors",
        "all_planned_requests_sent",
        "stored_equals_acknowledged",
    }
    targets = result["targets"]
    assert targets["no_errors"] and targets["stored_equals_acknowledged"]
    assert targets["all_planned_requests_sent"]


def test_the_tally_shows_a_lost_set_and_one_stored_for_a_failed_request(db):
    stored = SetLogFactory()
    never_stored = str(uuid.uuid4())
    # One acknowledged set is missing and one the client saw fail was written: the totals
    # agree (1 stored, 1 acknowledged), the accounting does not.
    tally = stored_tally([never_stored], [str(stored.client_id)])
    assert tally == {"acknowledged": 1, "stored": 1, "stored_unacknowledged": 1, "lost": 1}
    assert not targets_met({**BLOCK_OK, **tally}, BLOCK_OK, ratio=1, spread=1)[
        "stored_equals_acknowledged"
    ]

    tally = stored_tally([str(stored.client_id)], [never_stored])
    assert tally == {"acknowledged": 1, "stored": 1, "stored_unacknowledged": 0, "lost": 0}
    assert targets_met({**BLOCK_OK, **tally}, BLOCK_OK, ratio=1, spread=1)[
        "stored_equals_acknowledged"
    ]


BLOCK_OK = {"errors": 0, "cut_short": False}


class _SlowNoContent(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(0.05)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_run_cut_short_by_its_time_limit_is_flagged():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowNoContent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = load_client.run(
            {
                "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "endpoint": "check",
                "patients": [{"token": "t", "prescription": 1}],
                "requests": 100,
                "threads": 1,
                "time_limit": 0.3,
            }
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result["errors"] == 0 and result["planned"] == 100
    assert result["requests"] < 100 and result["cut_short"]
    targets = targets_met(
        BLOCK_OK | {"stored": 0, "acknowledged": 0, "lost": 0}, result, ratio=1, spread=1
    )
    assert targets["no_errors"] and not targets["all_planned_requests_sent"]


def test_it_refuses_to_run_on_a_database_the_bench_did_not_build(db):
    # The test database has no bench marker: nothing is started, no token created.
    with pytest.raises(NotABenchDatabase, match="Refusing to measure"):
        measure_api(quick=True, workers=2, requests=10)
    assert not Token.objects.exists()


def test_it_writes_only_into_generated_patients(db):
    generate_network(SIZES["tiny"])
    real = PrescriptionFactory(patient__user=UserFactory())
    chosen = patients_who_can_log(1000)
    assert chosen
    assert real.patient_id not in {p.patient_id for p in chosen}
    assert {p.patient.clinic.slug[:6] for p in chosen} == {"bench-"}
