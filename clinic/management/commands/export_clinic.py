"""`manage.py export_clinic <slug> [-o FILE]`: one clinic's records, with their history, as a file.

For moving a clinic to another server or restoring one clinic (docs/backups.md); whole-server
backups are `pg_dump`. The file holds health records and password hashes: it is written readable
by its owner only, and should be encrypted before it leaves the server.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from clinic.backup import BackupError, ExportSummary, clinic_export
from clinic.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Export one clinic (its care team and patient logins, patients, clearance notes, "
        "prescriptions, stage changes, set logs and their audit history) to a file that "
        "`import_clinic` restores into a database without that clinic. `-o -` writes to stdout, "
        "e.g. to pipe into an encryption tool."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The clinic's slug, e.g. riverside.")
        parser.add_argument(
            "-o",
            "--output",
            help="File to write (default: <slug>-<UTC time>.clinic.jsonl here); '-' for stdout.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        now = timezone.now()
        output: str = options["output"] or f"{slug}-{now:%Y%m%dT%H%M%SZ}.clinic.jsonl"
        bar = progress_bar(self.stderr, options["verbosity"])
        if output == "-":
            if sys.stdout.isatty():
                raise CommandError(
                    "Refusing to print a clinic's health records to the terminal: give -o FILE, "
                    "or pipe the output (e.g. into an encryption tool)."
                )
            summary = self._export(slug, sys.stdout.buffer, bar, now)
        else:
            summary = self._export_to_file(slug, Path(output), bar, now)
        header = summary.header
        if options["verbosity"] > 0:
            rows = sum(header["counts"].values())
            where = "stdout" if output == "-" else output
            self.stderr.write(
                f"Exported clinic '{slug}': {rows} rows to {where} "
                f"(body sha256 {header['body_sha256'][:16]}…). It holds health records and "
                "password hashes: keep it encrypted, delete it when done."
            )
            if summary.users_with_groups:
                self.stderr.write(
                    self.style.WARNING(
                        "Django groups and permissions are not in the file; re-grant them after "
                        f"a restore for: {', '.join(summary.users_with_groups)}."
                    )
                )

    def _export(self, slug: str, out: IO[bytes], bar: Any, now: dt.datetime) -> ExportSummary:
        try:
            return clinic_export(slug=slug, out=out, bar=bar, now=now)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc

    def _export_to_file(self, slug: str, path: Path, bar: Any, now: dt.datetime) -> ExportSummary:
        if path.exists():
            raise CommandError(f"{path} already exists: choose another name, or delete it first.")
        # Written beside the target and renamed when complete: a failed export leaves no file
        # that looks like a backup. Owner-only from the start: it holds health records.
        partial_path = path.with_name(path.name + ".partial")
        try:
            fd = os.open(partial_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise CommandError(f"Cannot write {partial_path}: {exc.strerror}.") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                summary = self._export(slug, out, bar, now)
            partial_path.replace(path)
        finally:
            partial_path.unlink(missing_ok=True)
        return summary
