"""The patient API under concurrent load: logging sets against a trivial authenticated endpoint.

Against the current database (the bench database the generator filled), through gunicorn with
several workers on 127.0.0.1, from a second process (`clinic.bench.load_client`):

1. refuse unless the database is a bench database (`clinic.bench.database`: it writes sets);
   take generated patients who can log now (a login, an active prescription, not paused by
   clearance) and give each a token through the ORM (signing in through the API is throttled
   and locks out);
2. start gunicorn (`clinic.bench.server`), production settings, throttles raised;
3. `GET /api/v1/auth/check/` (the token lookup and nothing else) and `POST /api/v1/me/sets/` (a
   fresh client_id each), as many requests each, in alternating rounds, from as many client
   threads as there are workers; a warm-up before the first round is not counted;
4. stop gunicorn, count the stored sets for every client_id sent, acknowledged or not (stored
   must equal acknowledged: nothing lost, nothing written for a request that failed), remove the
   tokens the run created. A round the time limit cut short is flagged, not passed.

Targets (docs/performance.md): logging a set reaches at least half the trivial endpoint's
throughput on the same server, and its p99 stays within 4× its p50.

    python manage.py shell -c 'from clinic.bench.api_load import main; main(["--quick"])'
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from clinic.bench import database, load_client
from clinic.bench.generate import GENERATED_SLUG
from clinic.bench.server import BASE_DIR, Server, gunicorn
from exercises.models import Prescription, SetLog
from exercises.services import pause_reason

THROUGHPUT_RATIO_TARGET = 0.5
# The two endpoints take turns in this many rounds (fewer for a tiny run).
ROUNDS = 4
P99_OVER_P50_TARGET = 4.0
SIZES = {
    # requests per endpoint, warm-up requests, seconds allowed per endpoint, patients
    True: {"requests": 400, "warmup": 40, "time_limit": 60, "patients": 50},
    False: {"requests": 4000, "warmup": 200, "time_limit": 300, "patients": 200},
}


def measure_api(
    *,
    quick: bool,
    workers: int | None = None,
    requests: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure the two endpoints; see the module docstring. `workers` defaults to 2 × cores,
    `threads` (concurrent clients) to `workers`, `requests` to the quick or full size."""
    size = dict(SIZES[quick])
    if requests is not None:
        size["requests"] = requests
        size["warmup"] = min(size["warmup"], max(requests // 10, 1))
    workers = workers or 2 * (os.cpu_count() or 1)
    threads = threads or workers
    # The run writes sets into the patients' records: never into a database with real ones.
    database.require_bench_database()
    patients = patients_who_can_log(size["patients"])
    if not patients:
        raise RuntimeError(
            "No generated patient can log a set: the database needs a generated network "
            "(`manage.py bench --fresh`)."
        )
    tokens, created = _tokens([p.patient.user for p in patients])
    targets = [
        # The query keeps only patients with a login.
        {"token": tokens[p.patient.user_id], "prescription": p.pk}  # type: ignore[index]  # above
        for p in patients
    ]
    try:
        with gunicorn(workers=workers) as server:
            trivial, log_set = _alternating(server, targets, size, threads)
    finally:
        Token.objects.filter(pk__in=created).delete()

    log_set.update(stored_tally(log_set.pop("acknowledged"), log_set.pop("unacknowledged")))
    for key in ("acknowledged", "unacknowledged"):
        trivial.pop(key)
    trivial["stored"] = None
    ratio = _ratio(log_set["throughput_rps"], trivial["throughput_rps"])
    spread = _ratio(log_set["p99_ms"], log_set["p50_ms"])
    return {
        "database": connection.vendor,
        "workers": workers,
        "threads": threads,
        "patients": len(patients),
        "log_set": log_set,
        "trivial": trivial,
        "throughput_ratio": ratio,
        "p99_over_p50": spread,
        "targets": targets_met(log_set, trivial, ratio=ratio, spread=spread),
    }


def stored_tally(acknowledged: Sequence[str], unacknowledged: Sequence[str]) -> dict[str, int]:
    """What the database holds for every set sent, answered or not.

    Counting only the acknowledged client_ids would miss a set stored for a request its client
    saw fail (an extra write); `stored` counts rows for all of them, so stored = acknowledged with
    nothing lost means every acknowledged set is stored once and nothing else is."""
    stored_acknowledged = stored_count(acknowledged)
    stored_unacknowledged = stored_count(unacknowledged)
    return {
        "acknowledged": len(acknowledged),
        "stored": stored_acknowledged + stored_unacknowledged,
        "stored_unacknowledged": stored_unacknowledged,
        "lost": len(acknowledged) - stored_acknowledged,
    }


def targets_met(
    log_set: dict[str, Any],
    trivial: dict[str, Any],
    *,
    ratio: float | None,
    spread: float | None,
) -> dict[str, bool]:
    return {
        "throughput_ratio_at_least_0_5": ratio is not None and ratio >= THROUGHPUT_RATIO_TARGET,
        "p99_at_most_4x_p50": spread is not None and spread <= P99_OVER_P50_TARGET,
        "no_errors": log_set["errors"] == 0 and trivial["errors"] == 0,
        # A run the time limit cut short sent fewer requests than planned: not a pass.
        "all_planned_requests_sent": not log_set["cut_short"] and not trivial["cut_short"],
        "stored_equals_acknowledged": log_set["stored"] == log_set["acknowledged"]
        and log_set["lost"] == 0,
    }


def patients_who_can_log(limit: int) -> list[Prescription]:
    """One active prescription for each of up to `limit` generated patients who can log a set
    today: a login, in the programme, and not paused for want of medical clearance."""
    today = timezone.localdate()
    candidates = (
        Prescription.objects.active()
        .filter(
            # Generated clinics only: the run writes sets into these patients' records.
            patient__clinic__slug__regex=GENERATED_SLUG,
            patient__user__isnull=False,
            patient__user__is_active=True,
            patient__discharged_at__isnull=True,
            started_at__lte=timezone.now() - dt.timedelta(minutes=1),
        )
        .select_related("patient__user", "patient__clinic", "stage")
        .order_by("patient_id", "pk")
    )
    chosen: dict[int, Prescription] = {}
    for prescription in candidates.iterator():
        if prescription.patient_id in chosen:
            continue
        if prescription.patient.requires_clearance and pause_reason(prescription, today):
            continue
        chosen[prescription.patient_id] = prescription
        if len(chosen) == limit:
            break
    return list(chosen.values())


def _tokens(users: Iterable[Any]) -> tuple[dict[int, str], list[str]]:
    """Each user's token, created through the ORM where missing; also the keys created, so the
    run can remove them afterwards."""
    tokens: dict[int, str] = {}
    created: list[str] = []
    for user in users:
        token, new = Token.objects.get_or_create(user=user)
        tokens[user.pk] = token.key
        if new:
            created.append(token.key)
    return tokens, created


def _alternating(
    server: Server, targets: list[dict[str, Any]], size: dict[str, int], threads: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both endpoints in alternating rounds, merged per endpoint: on a machine doing other work too,
    a burst of background load then falls on both alike instead of on whichever ran at the time."""
    rounds = max(1, min(ROUNDS, size["requests"] // 20))
    parts: dict[str, list[dict[str, Any]]] = {"check": [], "log_set": []}
    for number in range(rounds):
        share = size["requests"] // rounds + (number < size["requests"] % rounds)
        for endpoint in parts:
            parts[endpoint].append(
                run_load_client(
                    {
                        "base_url": server.base_url,
                        "endpoint": endpoint,
                        "patients": targets,
                        "requests": share,
                        "warmup": size["warmup"] if number == 0 else 0,
                        "time_limit": size["time_limit"] / rounds,
                        "threads": threads,
                        "raw": True,
                    }
                )
            )
    return _merged(parts["check"]), _merged(parts["log_set"])


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint's rounds as one result: summed counts and time, percentiles of all latencies."""
    latencies = sorted(ms for part in parts for ms in part.pop("latencies_ms"))
    requests = sum(part["requests"] for part in parts)
    elapsed = sum(part["elapsed_s"] for part in parts)
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    return {
        "endpoint": parts[0]["endpoint"],
        "threads": parts[0]["threads"],
        "rounds": len(parts),
        "planned": sum(part["planned"] for part in parts),
        "requests": requests,
        "cut_short": any(part["cut_short"] for part in parts),
        "attempts": sum(part["attempts"] for part in parts),
        "retries": sum(part["retries"] for part in parts),
        "errors": sum(part["errors"] for part in parts),
        "elapsed_s": round(elapsed, 3),
        "throughput_rps": round(requests / elapsed, 1) if elapsed else 0.0,
        **{f"p{p}_ms": _round(load_client.percentile(latencies, p)) for p in (50, 95, 99)},
        "max_ms": _round(latencies[-1] if latencies else None),
        "statuses": dict(statuses),
        "acknowledged": [cid for part in parts for cid in part["acknowledged"]],
        "unacknowledged": [cid for part in parts for cid in part["unacknowledged"]],
        "error_samples": [e for part in parts for e in part["error_samples"]][:5],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_load_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `clinic.bench.load_client` in a process of its own and return its result."""
    limit = float(spec["time_limit"]) * (2 if spec.get("warmup") else 1) + 60
    with load_client.started(spec, cwd=BASE_DIR) as run:
        return run.result(timeout=limit)


def stored_count(client_ids: Sequence[str]) -> int:
    """Set logs stored under these client_ids (in chunks: SQLite caps a query's parameters)."""
    return sum(
        SetLog.objects.filter(client_id__in=client_ids[start : start + 500]).count()
        for start in range(0, len(client_ids), 500)
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def report(result: dict[str, Any]) -> str:
    """The result as a short table, for a terminal or docs/performance.md."""
    lines = [
        f"{result['database']}, {result['workers']} gunicorn workers, {result['threads']} client "
        f"threads, {result['patients']} patients",
        f"{'endpoint':<22}{'sent/plan':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'acked':>8}{'stored':>8}",
    ]
    for name, label in (("trivial", "GET auth/check/"), ("log_set", "POST me/sets/")):
        row = result[name]
        stored = "-" if row["stored"] is None else row["stored"]
        acked = row.get("acknowledged", "-")
        requests = f"{row['requests']}/{row['planned']}"
        lines.append(
            f"{label:<22}{requests:>9}{row['errors']:>7}{row['throughput_rps']:>8}"
            f"{row['p50_ms']:>8}{row['p95_ms']:>8}{row['p99_ms']:>8}{acked:>8}{stored:>8}"
        )
    targets = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in result["targets"].items())
    lines.append(
        f"throughput ratio {result['throughput_ratio']} (target >= {THROUGHPUT_RATIO_TARGET}), "
        f"p99/p50 {result['p99_over_p50']} (target <= {P99_OVER_P50_TARGET})"
    )
    lines.append(targets)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry (Django must be set up: run it from `manage.py shell -c`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (400 requests each)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default 2 × cores)")
    parser.add_argument("--threads", type=int, help="concurrent clients (default: workers)")
    parser.add_argument("--requests", type=int, help="requests per endpoint")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = measure_api(
        quick=args.quick, workers=args.workers, requests=args.requests, threads=args.threads
    )
    print(json.dumps(result, indent=2) if args.json else report(result))
