"""`python manage.py generate_network`: a large generated network of clinics, for `make bench`.

Writes into the configured database (set DATABASE_URL to a bench database; `manage.py bench
--fresh` rebuilds one and calls this). What the network holds: clinic/bench/generate.py.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.bench.generate import DEFAULT_SEED, GENERATED_SLUG, SIZES, generate_network
from clinic.data.progress_bar import progress_bar
from patients.models import Clinic


class Command(BaseCommand):
    help = "Generate a network of clinics (bulk inserts) for the benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=sorted(SIZES), default="quick")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args: Any, size: str, seed: int, **options: Any) -> None:
        if Clinic.objects.filter(slug__regex=GENERATED_SLUG).exists():
            raise CommandError(
                "This database already holds a generated network; start from an empty one "
                "(`manage.py bench --fresh` rebuilds the bench database)."
            )
        chosen = SIZES[size]
        started = time.perf_counter()
        with progress_bar(self.stdout, options["verbosity"])(
            total=chosen.patients, desc=f"{size} network", unit=" patients"
        ) as bar:
            counts = generate_network(chosen, seed=seed, progress=bar.update)
        elapsed = time.perf_counter() - started
        summary = ", ".join(
            f"{n:,} {name.replace('_', ' ')}" for name, n in counts.as_dict().items()
        )
        self.stdout.write(f"Generated in {elapsed:.0f} s: {summary}.")
