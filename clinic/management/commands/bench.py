"""`python manage.py bench`: the performance measurements of docs/performance.md (`make bench`).

    manage.py bench --fresh                # rebuild the bench database, generate, measure (quick)
    manage.py bench --fresh --size full    # the network of the issue (minutes to generate)
    manage.py bench                        # measure again on the network already generated

Prints a table and writes the results as JSON (`--json`, default bench-results.json). It runs on
the configured database: `make bench` points DATABASE_URL at bench.sqlite3 unless one is given.
`--fresh` refuses any database whose name does not contain "bench", or that holds a clinic the
generator did not write, or tables without the bench's marker; without `--fresh`, it refuses to
measure on a database a bench rebuild did not build (clinic/bench/database.py).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from clinic.bench import database
from clinic.bench.generate import GENERATED_SLUG, SIZES
from clinic.bench.pages import measure_floor, measure_pages
from patients.models import Clinic

# Timed requests per page and side after the warm-up: the quick mode must finish in two minutes.
REPEATS = {"tiny": 3, "quick": 7, "full": 15}


class Command(BaseCommand):
    help = "Measure the pages (and the API) on a generated network of clinics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=sorted(SIZES), default="quick")
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Rebuild the bench database and generate the network first.",
        )
        parser.add_argument("--repeats", type=int, help="Timed requests per page and side.")
        parser.add_argument("--json", default="bench-results.json", help="Where to write results.")
        parser.add_argument("--no-api", action="store_true", help="Skip the API load part.")

    def handle(self, *args: Any, **options: Any) -> None:
        # The pages sign in hundreds of times; the lockout's log line for each would bury the table.
        logging.getLogger("axes").setLevel(logging.WARNING)
        size: str = options["size"]
        started = time.perf_counter()
        results: dict[str, Any] = {
            "size": size,
            "database": connection.vendor,
            "machine": f"{platform.machine()}, {platform.python_implementation()} "
            f"{platform.python_version()}",
            "at": timezone.now().isoformat(timespec="seconds"),
        }
        if options["fresh"]:
            try:
                database.rebuild()
            except database.NotABenchDatabase as exc:
                raise CommandError(str(exc)) from exc
            t = time.perf_counter()
            call_command("generate_network", size=size, stdout=self.stdout, verbosity=1)
            results["generate_s"] = round(time.perf_counter() - t, 1)
        try:
            # The API part writes sets and tokens: only ever into a bench database.
            database.require_bench_database()
        except database.NotABenchDatabase as exc:
            raise CommandError(str(exc)) from exc
        if not Clinic.objects.filter(slug__regex=GENERATED_SLUG).exists():
            raise CommandError("No generated network in this database: run with --fresh.")

        repeats = options["repeats"] or REPEATS[size]
        self.stdout.write(f"Measuring the pages ({repeats} timed requests each)…")
        results["pages"] = measure_pages(repeats=repeats)
        results["floor"] = measure_floor(repeats=repeats)
        results["api"] = None if options["no_api"] else self._api(quick=size != "full")
        results["total_s"] = round(time.perf_counter() - started, 1)

        self.stdout.write(render_table(results))
        path = Path(options["json"])
        if not path.is_absolute():
            path = Path(settings.BASE_DIR) / path
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        self.stdout.write(f"Results written to {path} ({results['total_s']} s in all).")

    def _api(self, *, quick: bool) -> dict[str, Any] | None:
        try:
            from clinic.bench.api_load import measure_api
        except ImportError:
            self.stdout.write("API load: not available")
            return None
        self.stdout.write("Measuring the API under concurrent load…")
        return measure_api(quick=quick)


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render_table(results: dict[str, Any]) -> str:
    """The results as a plain-text table, one line per measurement."""
    pages = results["pages"]
    small, large = pages["small"], pages["large"]
    lines = [
        "",
        f"Bench ({results['size']}, {results['database']}): small clinic "
        f"{small['patients']} patients / {small['sets']:,} sets vs largest "
        f"{large['patients']} patients / {large['sets']:,} sets",
        f"{'measurement':<34}{'small':>10}{'large':>10}{'ratio':>8}{'target':>8}"
        f"{'queries':>10}  result",
        "(b: at the largest clinic, the hand-written SQL first, then the report; ratio report ÷ SQL)",
    ]
    for name, p in pages["pages"].items():
        queries = f"{p['queries_small']}/{p['queries_large']}"
        lines.append(
            f"{'a. ' + name + ' (ms)':<34}{p['small_ms']:>10}{p['large_ms']:>10}"
            f"{p['ratio']:>8}{'≤' + str(p['target']):>8}{queries:>10}  {_mark(p['met'])}"
        )
    f = results["floor"]
    lines.append(
        f"{'b. SQL floor → clinic report (ms)':<34}{f['floor_ms']:>10}{f['page_ms']:>10}"
        f"{f['ratio']:>8}{'≤' + str(f['target']):>8}{'':>10}  {_mark(f['met'])}"
    )
    lines.append(
        f"{'   SQL floor → figures, no page':<34}{f['floor_figures_ms']:>10}{f['figures_ms']:>10}"
        f"{f['figures_ratio']:>8}"
    )
    if f.get("note"):
        lines.append(f"   {f['note']}")
    if "floor_matches_report" in f:
        if f["floor_matches_report"]:
            lines.append(f"   the floor's {f['floor_rows']} rows are the report's (every figure)")
        else:
            lines.append(
                f"   FLOOR ≠ REPORT: {f['differences']} differences, e.g. "
                + "; ".join(f["differences_first"][:3])
            )
    api = results.get("api")
    if api is None:
        lines.append("c. API load: not available" if "api" in results else "")
    else:
        for name in ("log_set", "trivial"):
            block = api.get(name) or {}
            stored = (
                f", acknowledged {block.get('acknowledged')}, stored {block['stored']} "
                f"({block.get('stored_unacknowledged')} of them unacknowledged)"
                if block.get("stored") is not None
                else ""
            )
            lines.append(
                f"{'c. API ' + name:<34}{block.get('throughput_rps', '-'):>10} rps  "
                f"{block.get('requests', '-')}/{block.get('planned', '-')} requests, "
                f"p50 {block.get('p50_ms', '-')} ms, p95 {block.get('p95_ms', '-')} ms, "
                f"p99 {block.get('p99_ms', '-')} ms, errors {block.get('errors', '-')}{stored}"
            )
        targets = api.get("targets") or {}
        lines.append(
            f"{'   throughput ratio / p99÷p50':<34}{api.get('throughput_ratio', '-'):>10}"
            f"{api.get('p99_over_p50', '-'):>10}  "
            + ", ".join(f"{k} {_mark(bool(v))}" for k, v in targets.items())
        )
    lines.append("")
    return "\n".join(lines)
