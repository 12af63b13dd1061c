"""The API load run end to end, tiny: gunicorn with 2 workers on a scratch SQLite file, 40 requests
to each endpoint from a second process. Every set acknowledged is stored, and none fails: with two
workers writing one SQLite file, a "database is locked" answers 503 (before the SQLite options in
clinic/settings.py, about a quarter of the writes did)."""

import json
import subprocess
import sys

from django.conf import settings

BLOCK = {"requests", "errors", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "stored"}


def test_a_tiny_load_run_answers_every_request_and_stores_every_acknowledged_set(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.tiny_api_load", str(tmp_path / "load.sqlite3")],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert (result["database"], result["workers"], result["patients"]) == ("sqlite", 2, 3)
    for name in ("log_set", "trivial"):
        assert set(result[name]) >= BLOCK, name
        assert result[name]["requests"] == 40, result[name]
        assert result[name]["errors"] == 0, result[name]["error_samples"]
        assert result[name]["p50_ms"] <= result[name]["p95_ms"] <= result[name]["p99_ms"]
    assert result["log_set"]["statuses"] == {"201": 40}
    assert result["trivial"]["statuses"] == {"204": 40}
    assert result["log_set"]["stored"] == 40
    assert result["trivial"]["stored"] is None
    assert result["throughput_ratio"] > 0
    assert result["p99_over_p50"] >= 1
    assert set(result["targets"]) == {
        "throughput_ratio_at_least_0_5",
        "p99_at_most_4x_p50",
        "no_errors",
        "stored_equals_acknowledged",
    }
    assert result["targets"]["no_errors"] and result["targets"]["stored_equals_acknowledged"]
