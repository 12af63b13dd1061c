"""The load client: many phone apps at once, in a process of its own.

    python -m clinic.bench.load_client < spec.json > result.json

Standard library only (threads and `http.client`), so it never imports Django and never shares the
server's interpreter: what it measures is the server. Each thread is one client with its own
connection, taking the next request from a shared counter until `requests` are done or
`time_limit` seconds have passed (whichever comes first).

The spec (JSON on stdin):
- `base_url`: e.g. "http://127.0.0.1:8123".
- `endpoint`: "log_set" (`POST /api/v1/me/sets/`, a new client_id per set) or "check"
  (`GET /api/v1/auth/check/`, token validation only).
- `patients`: [{"token": "...", "prescription": 12}, ...]; request i goes to patient i mod n.
- `requests`, `threads`, `time_limit`; optional `warmup` (requests sent first, not recorded),
  `timeout` (seconds per attempt, default 10).
- `retries` (default 0): as a phone app syncing, a set that gets no answer, a 5xx or a 429 is sent
  again, the SAME body and client_id, up to `retries` more times, `retry_wait` seconds apart
  (doubling, at most 1 s). A 4xx other than 429 is final.
- `record_sets` (default false): add every set's client_id, the statuses of its attempts and the
  id the server answered with; `raw` (default false): add every attempt's latency.

The result (JSON on stdout): counts (requests sent against those planned, and whether the time
limit cut the run short), throughput, latency percentiles (per attempt), statuses, the
acknowledged client_ids (a 200 or 201 answer to a set) and the unacknowledged ones (sent, but the
client saw no success), and up to five error samples.
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

MODULE = "clinic.bench.load_client"
SETS_PATH = "/api/v1/me/sets/"
CHECK_PATH = "/api/v1/auth/check/"
SUCCESS = {"log_set": {200, 201}, "check": {204}}
MAX_RETRY_WAIT = 1.0
CONNECTION_ERROR = "connection error"


@dataclass
class Attempt:
    status: int | str
    latency_ms: float
    body: bytes = b""


@dataclass
class Outcome:
    ok: bool
    attempts: list[Attempt]
    client_id: str | None = None
    set_id: int | None = None


@dataclass
class Tally:
    """What the threads report, under one lock."""

    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


class Client:
    """One phone app: one keep-alive connection (reopened after an error or a server's close)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        url = urlsplit(spec["base_url"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.timeout = float(spec.get("timeout", 10))
        self.endpoint = spec["endpoint"]
        self.retries = int(spec.get("retries", 0))
        self.retry_wait = float(spec.get("retry_wait", 0.05))
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def send(self, method: str, path: str, token: str, body: bytes | None) -> Attempt:
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
            status: int | str = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = self._connect()
            status, content = CONNECTION_ERROR, f"{type(exc).__name__}: {exc}".encode()
        return Attempt(status, (time.perf_counter() - started) * 1000, content)

    def one(self, patient: dict[str, Any]) -> Outcome:
        if self.endpoint == "check":
            attempt = self.send("GET", CHECK_PATH, patient["token"], None)
            return Outcome(attempt.status in SUCCESS["check"], [attempt])
        body = _a_set(patient["prescription"])
        payload = json.dumps(body).encode()
        attempts: list[Attempt] = []
        wait = self.retry_wait
        for number in range(self.retries + 1):
            if number:
                time.sleep(wait)
                wait = min(wait * 2, MAX_RETRY_WAIT)
            attempt = self.send("POST", SETS_PATH, patient["token"], payload)
            attempts.append(attempt)
            if attempt.status in SUCCESS["log_set"]:
                stored = json.loads(attempt.body)
                return Outcome(True, attempts, body["client_id"], stored["id"])
            if not _retryable(attempt.status):
                break
        return Outcome(False, attempts, body["client_id"])

    def close(self) -> None:
        self.connection.close()


def _a_set(prescription: int) -> dict[str, Any]:
    """A set as the phone app sends it: performed just now, a fresh idempotency key."""
    return {
        "client_id": str(uuid.uuid4()),
        "prescription": prescription,
        "reps": random.randint(5, 20),
        "pain": random.randint(0, 3),
        "effort": random.randint(3, 8),
        "performed_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def _retryable(status: int | str) -> bool:
    return (
        status == CONNECTION_ERROR or status == 429 or (isinstance(status, int) and status >= 500)
    )


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _drive(spec: dict[str, Any], count: int, deadline: float) -> tuple[list[Outcome], float]:
    patients = spec["patients"]
    numbers = itertools.count()
    numbers_lock = threading.Lock()
    tally = Tally()

    def work() -> None:
        client = Client(spec)
        try:
            while time.monotonic() < deadline:
                with numbers_lock:
                    number = next(numbers)
                if number >= count:
                    return
                tally.add(client.one(patients[number % len(patients)]))
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(int(spec["threads"]))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally.outcomes, time.perf_counter() - started


def run(spec: dict[str, Any]) -> dict[str, Any]:
    if not spec.get("patients"):
        raise ValueError("The spec names no patients.")
    if spec.get("warmup"):
        _drive(spec, int(spec["warmup"]), time.monotonic() + float(spec["time_limit"]))
    outcomes, elapsed = _drive(
        spec, int(spec["requests"]), time.monotonic() + float(spec["time_limit"])
    )
    attempts = [a for o in outcomes for a in o.attempts]
    latencies = sorted(a.latency_ms for a in attempts)
    failures = [o for o in outcomes if not o.ok]
    planned = int(spec["requests"])
    result: dict[str, Any] = {
        "endpoint": spec["endpoint"],
        "threads": int(spec["threads"]),
        "planned": planned,
        "requests": len(outcomes),
        # The time limit ended the run before every planned request was sent.
        "cut_short": len(outcomes) < planned,
        "attempts": len(attempts),
        "retries": len(attempts) - len(outcomes),
        "errors": len(failures),
        "elapsed_s": round(elapsed, 3),
        "throughput_rps": round(len(outcomes) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": _round(percentile(latencies, 50)),
        "p95_ms": _round(percentile(latencies, 95)),
        "p99_ms": _round(percentile(latencies, 99)),
        "max_ms": _round(latencies[-1] if latencies else None),
        "statuses": dict(Counter(str(a.status) for a in attempts)),
        "acknowledged": [o.client_id for o in outcomes if o.ok and o.client_id],
        # Every set sent, answered or not: a set stored for a request that failed must show too.
        "unacknowledged": [o.client_id for o in outcomes if not o.ok and o.client_id],
        "error_samples": [
            {"status": a.status, "body": a.body[:300].decode(errors="replace")}
            for a in attempts
            if a.status not in SUCCESS[spec["endpoint"]]
        ][:5],
    }
    if spec.get("raw"):
        result["latencies_ms"] = [round(ms, 2) for ms in latencies]
    if spec.get("record_sets"):
        result["sets"] = [
            {
                "client_id": o.client_id,
                "id": o.set_id,
                "acknowledged": o.ok,
                "statuses": [a.status for a in o.attempts],
            }
            for o in outcomes
        ]
    return result


@dataclass
class Run:
    """The load client running in a process of its own (see `started`)."""

    process: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]

    def running(self) -> bool:
        return self.process.poll() is None

    def result(self, timeout: float) -> dict[str, Any]:
        self.process.wait(timeout=timeout)
        self.out.seek(0)
        self.err.seek(0)
        if self.process.returncode != 0:
            error = self.err.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"The load client failed:\n{error}")
        return json.loads(self.out.read())


@contextmanager
def started(spec: dict[str, Any], *, cwd: str | os.PathLike[str]) -> Iterator[Run]:
    """Start the load client in a process of its own, for the bench and the fault test alike;
    it is killed if still running when the block ends.

    The result goes to a temporary file rather than a pipe: a caller busy injecting faults while
    the run lasts is not reading, and a full pipe would stall the client.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=cwd
        )
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps(spec).encode())
            process.stdin.close()
            yield Run(process, out, err)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    json.dump(run(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
