"""`manage.py export_clinic <slug> [-o FILE]`: one clinic's records, with their history, as a file.

For moving a clinic to another server or restoring one clinic (docs/backups.md); whole-server
backups are `pg_dump`. The file holds health records, password hashes and the scanned copies of
clearance notes: it is written readable by its owner only, and should be encrypted before it leaves
the server. It is signed with `EXPORT_SIGNING_KEY`, which the importing server must share.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from clinic.data.backup.errors import BackupError
from clinic.data.backup.export import ExportSummary, clinic_export
from clinic.data.progress_bar import BarFactory, progress_bar


class Command(BaseCommand):
    help = (
        "Export one clinic (its care team and patient logins, patients, clearance notes, "
        "prescriptions, stage changes, set logs, pain reviews, their audit history, and the "
        "scanned copies of clearance notes) to a file signed with EXPORT_SIGNING_KEY that "
        "`import_clinic` restores into a database without that clinic, on a server with the same "
        "key. `-o -` writes to stdout, e.g. to pipe into an encryption tool."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The clinic's slug, e.g. riverside.")
        parser.add_argument(
            "-o",
            "--output",
            help="File to write (default: <slug>-<UTC time>.clinic.jsonl here); '-' for stdout.",
        )
        parser.add_argument(
            "--allow-missing-documents",
            action="store_true",
            help="Export even if scanned copies of clearance notes are missing from the private "
            "files folder (they are listed in the file and restored as missing). Without it, "
            "the export refuses and names them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        now = timezone.now()
        output: str = options["output"] or f"{slug}-{now:%Y%m%dT%H%M%SZ}.clinic.jsonl"
        bar = progress_bar(self.stderr, options["verbosity"])
        allow_missing: bool = options["allow_missing_documents"]
        if output == "-":
            if sys.stdout.isatty():
                raise CommandError(
                    "Refusing to print a clinic's health records to the terminal: give -o FILE, "
                    "or pipe the output (e.g. into an encryption tool)."
                )
            summary = self._export(slug, sys.stdout.buffer, bar, now, allow_missing)
        else:
            summary = self._export_to_file(slug, Path(output), bar, now, allow_missing)
        header = summary.header
        if summary.documents_missing:
            # Said even at -v 0: the file is not a complete copy of the clinic.
            self.stderr.write(
                self.style.WARNING(
                    "Exported without these scanned copies, missing from the private files "
                    f"folder: {'; '.join(summary.documents_missing)}."
                )
            )
        if options["verbosity"] > 0:
            rows = sum(header["counts"].values())
            where = "stdout" if output == "-" else output
            self.stderr.write(
                f"Exported clinic '{slug}': {rows} rows and {len(header['documents'])} scanned "
                f"documents to {where}, signed with EXPORT_SIGNING_KEY (the importing server "
                "needs the same key). It holds health records and password hashes: keep it "
                "encrypted, delete it when done."
            )
            if summary.users_with_groups:
                self.stderr.write(
                    self.style.WARNING(
                        "Django groups and permissions are not in the file; re-grant them after "
                        f"a restore for: {', '.join(summary.users_with_groups)}."
                    )
                )

    def _export(
        self, slug: str, out: IO[bytes], bar: BarFactory, now: dt.datetime, allow_missing: bool
    ) -> ExportSummary:
        try:
            return clinic_export(
                slug=slug, out=out, bar=bar, now=now, allow_missing_documents=allow_missing
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc

    def _export_to_file(
        self, slug: str, path: Path, bar: BarFactory, now: dt.datetime, allow_missing: bool
    ) -> ExportSummary:
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
                summary = self._export(slug, out, bar, now, allow_missing)
            partial_path.replace(path)
        finally:
            partial_path.unlink(missing_ok=True)
        return summary
