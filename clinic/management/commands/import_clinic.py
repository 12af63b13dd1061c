"""`manage.py import_clinic FILE`: restore a clinic written by `export_clinic`.

Only into a database without that clinic and its users (a new server, or one where the clinic was
lost), and only a file signed with this server's `EXPORT_SIGNING_KEY`; it refuses anything else,
including a file whose rows reach beyond its clinic or break the rules the app writes its records
by, and writes nothing then (no rows, no documents). It never grants staff or superuser status.
See docs/backups.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.data.backup.errors import BackupError
from clinic.data.backup.restore import clinic_import
from clinic.data.progress_bar import progress_bar


class Command(BaseCommand):
    help = (
        "Restore one clinic from a file written by `export_clinic` and signed with this server's "
        "EXPORT_SIGNING_KEY, exactly (ids, times, the audit history and the scanned copies of "
        "clearance notes), into a database that holds none of its rows. All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A file written by `manage.py export_clinic`.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        bar = progress_bar(self.stderr, options["verbosity"])
        try:
            with path.open("rb") as source:
                summary = clinic_import(source=source, bar=bar)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for warning in summary.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if summary.privileges_removed:
            # Said even at -v 0: someone may be waiting for admin rights that did not come back.
            self.stderr.write(
                self.style.WARNING(
                    "An import never grants admin rights: staff and superuser status removed "
                    f"from {', '.join(summary.privileges_removed)}. Grant them again on this "
                    "server if they should have them (by a superuser of this server, in the admin)."
                )
            )
        if options["verbosity"] > 0:
            clinic = summary.header["clinic"]
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported clinic '{clinic['slug']}' ({clinic['name']}): "
                    f"{sum(summary.counts.values())} rows and {summary.documents} scanned "
                    f"documents, exported at "
                    f"{summary.header['exported_at']}. Patients sign in again in the app "
                    "(API tokens and sessions are not restored)."
                )
            )
