"""`clinic_import`: restore one clinic from its file (`manage.py import_clinic`), all or nothing.

Before anything is written: the header and its signature (`file_format.header_read`), the body's
SHA-256, the schema, and that the clinic is not here yet. Then, in one transaction, the rows as
they are (each checked by `row_checks` as it comes in), the replay check (`replay`), the scanned
copies (`documents`) and the id sequences. A refusal or failure anywhere leaves the database as it
was and removes the files written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError, DeserializedObject
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q

from clinic.data.backup.documents import documents_remove, documents_restore
from clinic.data.backup.errors import BackupError
from clinic.data.backup.file_format import header_read, schema
from clinic.data.backup.parts import CHUNK, PARTS, User
from clinic.data.backup.replay.check import refusal_lines, replay_refusals
from clinic.data.backup.row_checks import (
    Ownership,
    collision_check,
    privileges_strip,
    reference_compare,
)
from clinic.data.progress_bar import NO_BAR, BarFactory
from patients.models import ClearanceNote, Clinic


@dataclass
class ImportSummary:
    header: dict[str, Any]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    # Users the file marked as staff or superuser: they come in without those rights.
    privileges_removed: list[str] = field(default_factory=list)
    # Scanned copies of clearance notes written to the private storage.
    documents: int = 0


def clinic_import(*, source: IO[bytes], bar: BarFactory = NO_BAR) -> ImportSummary:
    """Restore a clinic from an export into a database that holds none of its rows.

    Everything happens in one transaction: any refusal or failure leaves the database as it was.
    Rows are stored as they are, never through the models' save(): in batches (`bulk_create`,
    no signals) or, for models whose fields stamp the time on save, one by one with a raw save
    (`DeserializedObject.save()`). Either way django-simple-history writes no new history: the
    history in the file is restored as it was.

    Before the transaction commits, the clinical rows are checked against the rules the services
    apply when they write them (`clinic.data.backup.replay`), and then the scanned copies of the
    clearance notes are written to the private storage; if anything fails, including the commit
    itself, the files written are removed again.
    """
    header = header_read(source)
    body_start = source.tell()
    if _body_digest(source) != header["body_sha256"]:
        raise BackupError(
            "The file was changed after export: its rows and documents do not match the SHA-256 "
            "its signed header holds (damaged, cut short, or edited). Nothing was imported."
        )
    _target_check(header)
    source.seek(body_start)
    restore = _Restore(header, bar)
    committed = False
    try:
        with transaction.atomic():
            restore.rows(source)
            restore.finish(source)
            # PostgreSQL checks foreign keys when the transaction commits.
            restore.current = "the import as a whole (a row points at one that is missing)"
        committed = True
    except DeserializationError as exc:
        raise BackupError(
            f"Cannot read a row after {restore.current}: {exc}. Nothing was imported."
        ) from exc
    except DatabaseError as exc:
        # A collision with an existing row, or a row pointing at one that is missing.
        raise BackupError(
            f"The database refused {restore.current}: {exc}. Nothing was imported. Import into a "
            "database that holds none of this clinic's rows."
        ) from exc
    finally:
        restore.progress.close()
        if not committed:
            documents_remove(restore.files_written)
    return restore.summary


class _Restore:
    """One import's rows on their way in, and what it has learnt and written so far."""

    def __init__(self, header: dict[str, Any], bar: BarFactory) -> None:
        self.header = header
        self.bar = bar
        self.by_label = {part.label: part for part in PARTS}
        self.summary = ImportSummary(header=header, counts=dict.fromkeys(header["counts"], 0))
        self.owned = Ownership(
            clinic_id=header["clinic"].get("id"), clinic_slug=header["clinic"].get("slug")
        )
        # Models written (for their id sequences), in the order of the file.
        self.written: list[type[models.Model]] = []
        # Scanned copies the file's clearance notes name, and those this import wrote to disk.
        self.named: set[str] = set()
        self.files_written: list[str] = []
        self.batch: list[models.Model] = []
        self.total = sum(header["counts"].values())
        self.progress = bar(total=self.total, desc="Import", unit="row")
        # What is being written, for the message if the database refuses it.
        self.current = "the file"

    def rows(self, source: IO[bytes]) -> None:
        for item in serializers.deserialize("jsonl", _lines(source, self.total)):
            self.row(item)
        self.flush()
        self.progress.close()
        if self.summary.counts != self.header["counts"]:
            raise BackupError(
                f"The rows in the file do not match the header's counts ({self.summary.counts} "
                f"against {self.header['counts']}). Nothing was imported."
            )

    def row(self, item: DeserializedObject) -> None:
        obj = item.object
        label = obj._meta.label_lower
        part = self.by_label.get(label)
        if part is None or label not in self.summary.counts:
            raise BackupError(f"The file holds rows of {label}, which it does not list.")
        self.summary.counts[label] += 1
        if self.batch and (type(self.batch[0]) is not type(obj) or len(self.batch) >= CHUNK):
            self.flush()
        self.current = f"{label} {obj.pk}"
        if part.model not in self.written and not part.reference:
            self.written.append(part.model)
        if part.reference:
            self.summary.warnings += reference_compare(obj)
            self.progress.update(1)
            return
        collision_check(item, self.header)
        self.owned.check(obj)
        if isinstance(obj, User) and privileges_strip(obj):
            self.summary.privileges_removed.append(obj.get_username())
        if isinstance(obj, ClearanceNote) and obj.document.name:
            self.named.add(obj.document.name)
        if _insert_as_is(type(obj)) and not item.m2m_data:
            self.batch.append(obj)
        else:
            item.save(force_insert=True)
            self.progress.update(1)

    def flush(self) -> None:
        if self.batch:
            first, last = self.batch[0], self.batch[-1]
            self.current = f"{first._meta.label_lower} ids {first.pk}-{last.pk}"
            type(first)._base_manager.bulk_create(self.batch)
            self.progress.update(len(self.batch))
            self.batch.clear()

    def finish(self, source: IO[bytes]) -> None:
        """After the last row: the replay check, the scanned copies, the id sequences."""
        self.current = "the check of the imported rows"
        _replay_check(self.header, self.bar)
        self.current = "the scanned copies of the clearance notes"
        self.summary.warnings += documents_restore(
            source, self.header, self.named, self.files_written, self.bar
        )
        self.summary.documents = len(self.files_written)
        _sequences_reset(self.written, self.owned.deleted)


def _body_digest(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _target_check(header: dict[str, Any]) -> None:
    here = schema()
    if header["schema"] != here:
        apps = sorted(set(header["schema"]) | set(here))
        diff = [app for app in apps if header["schema"].get(app) != here.get(app)]
        raise BackupError(
            f"The file was written from a database at another schema version (migrations of "
            f"{', '.join(diff)} differ; app version {header['app_version']}). Import it into a "
            f"database migrated to exactly that version, then migrate forward."
        )
    clinic = header["clinic"]
    existing = Clinic.objects.filter(Q(pk=clinic.get("id")) | Q(slug=clinic.get("slug"))).first()
    if existing is not None:
        raise BackupError(
            f"This database already has the clinic '{existing.slug}' (id {existing.pk}). "
            "import_clinic only restores into a database without it; nothing was imported."
        )


def _lines(source: IO[bytes], count: int) -> Iterator[str]:
    """The next `count` lines: the rows (the documents follow them)."""
    for _ in range(count):
        raw = source.readline()
        if not raw:
            return
        yield raw.decode()


def _replay_check(header: dict[str, Any], bar: BarFactory) -> None:
    """Refuse the import unless every clinical row passes the services' rules (`replay`)."""
    refusals = replay_refusals(header["clinic"]["id"], bar)
    if refusals:
        rows = "\n".join(f"- {line}" for line in refusal_lines(refusals))
        raise BackupError(
            f"{refusals.total} row{'s' if refusals.total != 1 else ''} of the file "
            f"{'do' if refusals.total != 1 else 'does'} not pass the rules the app applies when "
            f"it writes them, so nothing was imported:\n{rows}\nRecords written through the "
            "app pass them: a row that does not was edited in the file, put together by hand, or "
            "written past the app's rules (e.g. straight into the database). Correct it on the "
            "exporting server and export again."
        )


def _insert_as_is(model: type[models.Model]) -> bool:
    """Whether `bulk_create` stores this model's rows exactly as they are: one INSERT per batch
    instead of one per row (a million set logs load in minutes, not hours).

    bulk_create sends no signals (so django-simple-history writes no history, like a raw save),
    but it does let `auto_now`/`auto_now_add` fields stamp the current time; rows of models with
    such fields go through the raw save instead, which keeps the file's values.
    """
    return not any(
        getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        for f in model._meta.concrete_fields
    )


def _sequences_reset(
    written: list[type[models.Model]], deleted: dict[type[models.Model], set[Any]]
) -> None:
    """Rows arrived with their ids; move the id sequences past them so new rows don't collide
    (what `manage.py sqlsequencereset` prints; SQLite's AUTOINCREMENT follows inserted ids by
    itself).

    Past the ids of objects deleted before the export too, whose history came with the file: a
    new object given such an id would inherit that history, and a new patient of any clinic
    would show a deleted patient's records on its history page. The source database never
    reuses them; the restored one must not either.
    """
    statements = connection.ops.sequence_reset_sql(no_style(), written)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
        for model, ids in deleted.items():
            if not ids:
                continue
            # Every concrete field has its column; django-stubs allows None for any field.
            column = cast(str, model._meta.pk.column)
            table, high = model._meta.db_table, max(ids)
            if connection.vendor == "postgresql":
                quoted_table, quoted_column = map(connection.ops.quote_name, (table, column))
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), %s) WHERE %s > "
                    f"(SELECT coalesce(max({quoted_column}), 0) FROM {quoted_table})",
                    [quoted_table, column, high, high],
                )
            elif connection.vendor == "sqlite":
                cursor.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, %s) WHERE name = %s", [high, table]
                )
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT %s, %s WHERE NOT EXISTS "
                    "(SELECT 1 FROM sqlite_sequence WHERE name = %s)",
                    [table, high, table],
                )
