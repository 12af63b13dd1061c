"""`clinic_export`: write one clinic's file (`manage.py export_clinic`), from one consistent snapshot.

The body (the rows, then the scanned copies) goes to a temporary file first, hashed as it is
written; then the output gets the signed header, which holds that hash, and the body after it.
Rows are streamed, so a clinic with millions of sets is never held in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from tqdm import tqdm

from clinic.data.backup.documents import document_write, documents_missing, documents_of
from clinic.data.backup.errors import BackupError
from clinic.data.backup.file_format import header_line, signed_header
from clinic.data.backup.parts import (
    CHUNK,
    PARTS,
    REFERENCED_ONLY,
    USER_FIELDS_LEFT_OUT,
    Part,
    Scope,
    User,
    members,
)
from clinic.data.progress_bar import NO_BAR, BarFactory
from patients.models import Clinic


@dataclass
class ExportSummary:
    header: dict[str, Any]
    users_with_groups: list[str] = field(default_factory=list)
    # Scanned copies named by a note but not on disk (exported without them, on request).
    documents_missing: list[str] = field(default_factory=list)


class ExactJSONEncoder(DjangoJSONEncoder):
    """Django's encoder, but times keep their microseconds (Django's cuts them to milliseconds,
    which would change every timestamp on a round trip)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


class _HashingWriter:
    """The text stream Django's serializer writes to: encodes, hashes and stores the bytes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        data = text.encode()
        self.digest.update(data)
        self.raw.write(data)
        return len(text)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of the database for the whole export, while the clinic keeps working.

    On PostgreSQL, REPEATABLE READ makes every query of the export see the same snapshot (the
    default, READ COMMITTED, would let a set logged halfway through appear without its
    prescription's history). It must be the transaction's first statement, so only when the export
    opens the transaction itself.

    On SQLite the settings make every transaction `BEGIN IMMEDIATE` (writers queue for the lock
    instead of failing), which would hold the write lock for the whole export: every set logged
    meanwhile would wait, and fail after the busy timeout. The export only reads, so it opens its
    transaction `BEGIN DEFERRED`: in WAL mode (the settings' default) its first read fixes a
    snapshot that stays the same until it ends, and writers go on. (Without WAL, SQLite's shared
    read lock keeps writers waiting instead: still consistent, no longer concurrent.)
    """
    outermost = not connection.in_atomic_block
    if outermost and connection.vendor == "sqlite":
        # The mode is read from the settings on connect: connect first, then override it for
        # this one BEGIN only, so every other transaction of the process stays IMMEDIATE.
        # `transaction_mode` is the SQLite wrapper's own: django-stubs does not declare it.
        connection.ensure_connection()
        mode = connection.transaction_mode  # type: ignore[attr-defined]  # SQLite's (above)
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]  # SQLite's (above)
        try:
            with transaction.atomic():
                connection.transaction_mode = mode  # type: ignore[attr-defined]  # SQLite's
                yield
        finally:
            connection.transaction_mode = mode  # type: ignore[attr-defined]  # SQLite's (above)
        return
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def clinic_export(
    *,
    slug: str,
    out: IO[bytes],
    bar: BarFactory = NO_BAR,
    now: dt.datetime | None = None,
    allow_missing_documents: bool = False,
) -> ExportSummary:
    """Write everything of the clinic `slug` to `out`: the signed header line, one row per line,
    then one line per scanned copy of a clearance note.

    A scanned copy that a note names but that is not on disk is refused (nothing is written),
    unless `allow_missing_documents`: then the file lists it as missing, and the summary too.
    """
    with _snapshot(), tempfile.TemporaryFile() as body:
        clinic = _clinic(slug)
        scope = Scope(clinic.pk)
        named = documents_of(scope)
        missing = documents_missing(named, allow_missing_documents)
        writer = _HashingWriter(body)
        counts = _rows_write(scope, writer, bar, slug)
        sizes = _documents_write(named, missing, writer, bar)
        users_with_groups = _users_with_groups(scope)
        header = signed_header(
            clinic=clinic,
            exported_at=now or timezone.now(),
            counts=counts,
            documents=sizes,
            documents_missing=missing,
            body_sha256=writer.digest.hexdigest(),
        )
        out.write(header_line(header))
        body.seek(0)
        while chunk := body.read(1 << 20):
            out.write(chunk)
    return ExportSummary(
        header=header,
        users_with_groups=users_with_groups,
        documents_missing=[f"{', '.join(named[name])}: {name}" for name in missing],
    )


def _clinic(slug: str) -> Clinic:
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None:
        known = ", ".join(Clinic.objects.order_by("slug").values_list("slug", flat=True))
        raise BackupError(f"No clinic with the slug '{slug}'. Clinics here: {known or 'none'}.")
    return clinic


def _rows_write(scope: Scope, writer: _HashingWriter, bar: BarFactory, slug: str) -> dict[str, int]:
    """Every part's rows, one per line in the order of `PARTS`. Returns the count per model."""
    member_ids = set(User.objects.filter(members(scope)).values_list("pk", flat=True))
    selections = [(part, part.select(scope).order_by("pk")) for part in PARTS]
    totals = {part.label: qs.count() for part, qs in selections}
    counts: dict[str, int] = {}
    progress = bar(total=sum(totals.values()), desc=f"Export {slug}", unit="row")
    for part, qs in selections:
        counts[part.label] = 0
        rows: Iterable[Any] = qs.iterator(chunk_size=CHUNK)
        options: dict[str, Any] = {}
        if part.model is User:
            rows = _users_for_file(rows, member_ids)
            options["fields"] = _user_fields()
        serializers.serialize(
            "jsonl",
            _counted(rows, part, counts, progress),
            stream=writer,
            cls=ExactJSONEncoder,
            **options,
        )
    progress.close()
    return counts


def _counted(
    rows: Iterable[Any], part: Part, counts: dict[str, int], progress: tqdm
) -> Iterator[Any]:
    for row in rows:
        counts[part.label] += 1
        progress.update(1)
        yield row


def _user_fields() -> list[str]:
    return [
        f.name
        for f in User._meta.get_fields()
        if f.concrete and not f.primary_key and f.name not in USER_FIELDS_LEFT_OUT
    ]


def _users_for_file(rows: Iterable[Any], member_ids: set[int]) -> Iterator[Any]:
    for user in rows:
        if user.pk not in member_ids:
            for name, value in REFERENCED_ONLY.items():
                setattr(user, name, value)  # in memory only: the file gets the stripped copy
        yield user


def _documents_write(
    named: dict[str, list[str]], missing: list[str], writer: _HashingWriter, bar: BarFactory
) -> dict[str, int]:
    """The scanned copies the notes name, but the missing ones. Returns each one's size."""
    sizes: dict[str, int] = {}
    # No bar for a clinic without scanned copies.
    progress = (bar if len(named) > len(missing) else NO_BAR)(
        total=len(named) - len(missing), desc="Documents", unit="file"
    )
    for name in named:
        if name not in missing:
            sizes[name] = document_write(name, writer.write)
            progress.update(1)
    progress.close()
    return sizes


def _users_with_groups(scope: Scope) -> list[str]:
    """The clinic's users with Django groups or permissions, which the file leaves out."""
    return sorted(
        User.objects.filter(members(scope))
        .filter(Q(groups__isnull=False) | Q(user_permissions__isnull=False))
        .values_list("username", flat=True)
        .distinct()
    )
