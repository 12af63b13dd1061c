"""One clinic's data as a file, and back: `manage.py export_clinic` / `manage.py import_clinic`.

The whole-server backup is PostgreSQL's `pg_dump` (docs/backups.md). This per-clinic file exists
for what pg_dump cannot do: move one clinic to another server, or restore one clinic's records
into an empty database without rolling back every other clinic.

The file is JSON Lines. Line 1 is a header (format and app version, the clinic, the time of export,
the database schema, row counts per model, the scanned documents with their sizes, a SHA-256 of
the body, and a signature of the header); every further line is one row in Django's serialization
format (`jsonl`), with times written to the microsecond (Django's own JSON encoder cuts them to
milliseconds), and after the rows one line per scanned copy of a clearance note (base64). Rows keep
their primary keys, because audit history rows point at object ids and set logs at prescriptions.

The header is signed with `settings.EXPORT_SIGNING_KEY` (HMAC-SHA256 through Django's signing),
and it holds the body's SHA-256, so the signature covers every byte: a file changed after export,
or signed with another key, is refused. Both servers of a move share the key.

A signature says the file was written by someone holding the key, not that every row in it is
sound. So the import does not take the rows on trust either: every row must belong to the
header's clinic (`_Ownership`), no user comes in with staff or superuser status, and the clinical
rows must pass the rules the services apply when they are written (`clinic.data.backup_checks`).

What goes in is declared once, in `PARTS`; what stays out, with the reason, in `EXCLUDED`. A test
(tests/clinic/test_backup.py) fails when a model of `patients` or `exercises`, or any model that
points at a clinic, a patient or a user, is in neither, so a new model cannot silently miss the
backups.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import importlib.metadata
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers, signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.utils import validate_file_name
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError, DeserializedObject
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q, QuerySet
from django.utils import timezone
from tqdm import tqdm

from clinic.data.backup_checks import refusal_lines, replay_refusals
from exercises.models import Ladder, PainReview, Prescription, SetLog, Stage, StageChange
from patients.models import AccessEvent, ClearanceNote, Clinic, Membership, Patient

FORMAT = "clamshell-clinic-export"
# 1: unsigned (a plain SHA-256 of the header); 2: signed, with the scanned documents.
FORMAT_VERSION = 2
# A header line longer than this is not ours: refuse before parsing it. The header lists every
# scanned document by name and size (about 60 bytes each): room for some 250,000 of them.
MAX_HEADER_BYTES = 16_000_000
CHUNK = 2000
# Separates the signature's purpose from every other use of the key.
SIGNING_SALT = "clinic.backup.export"  # fixed: exports signed earlier must still verify
# Documents are read and encoded in pieces of this many bytes (a multiple of 3: base64 pieces
# then join without padding in between).
DOCUMENT_CHUNK = 3 * 256 * 1024

# tqdm's signature; the commands pass one that draws on their stderr, the services default to none.
BarFactory = Callable[..., tqdm]
NO_BAR: BarFactory = partial(tqdm, disable=True)

User = get_user_model()
USER_LABEL = User._meta.label_lower
# Server-level authorisation: ids of groups and permissions differ between servers, and the app
# keeps its roles in memberships. Users are exported without them (docs/backups.md).
USER_FIELDS_LEFT_OUT = ("groups", "user_permissions")
# A user the clinic's rows point at (e.g. the admin who corrected a record, a therapist who has
# left) but who does not belong to the clinic: kept so the history still names them, stripped of
# every credential and privilege. "!" is Django's unusable-password prefix.
REFERENCED_ONLY = {"password": "!", "is_active": False, "is_staff": False, "is_superuser": False}


class BackupError(Exception):
    """A refusal: the message says what is wrong and what to do. Nothing has been written."""


@dataclass(frozen=True)
class Scope:
    """The clinic being exported, and the subqueries every part is selected by."""

    clinic_id: int

    def of_patients(self, column: str = "patient_id") -> Q:
        """Rows whose `column` is one of the clinic's patients, including patients deleted since
        (their history stays, and is the clinic's)."""
        live = Patient.objects.filter(clinic_id=self.clinic_id).values("pk")
        deleted = (
            history_model(Patient)
            .objects.filter(clinic_id=self.clinic_id)
            .exclude(id__in=Patient.objects.values("pk"))
            .values("id")
        )
        return Q(**{f"{column}__in": live}) | Q(**{f"{column}__in": deleted})


@dataclass(frozen=True)
class Part:
    """One model in the file and how to select the clinic's rows of it."""

    model: type[models.Model]
    select: Callable[[Scope], QuerySet[Any]]
    # Reference data shared by every clinic (the ladder): written for verification only. The
    # import checks that the target holds the same rows and never creates or changes them.
    reference: bool = False

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def history_model(model: type[models.Model]) -> type[models.Model]:
    """The django-simple-history model of `model` (HistoricalPatient for Patient, ...)."""
    return model.history.model  # type: ignore[attr-defined]


def _history_part(model: type[models.Model], rows: Callable[[Scope], Q]) -> Part:
    # Selected on the historical table itself, not through the live rows, so the history of a
    # deleted object comes along too.
    return Part(history_model(model), lambda s: history_model(model).objects.filter(rows(s)))


def _members(scope: Scope) -> Q:
    """Users who belong to the clinic: its care team and its patients' logins."""
    return Q(pk__in=Membership.objects.filter(clinic_id=scope.clinic_id).values("user_id")) | Q(
        pk__in=Patient.objects.filter(clinic_id=scope.clinic_id).values("user_id")
    )


def _users(scope: Scope) -> QuerySet[Any]:
    """The members, and every user a row of the clinic points at (who recorded, voided, changed).

    Subqueries, not lists of ids: a clinic with tens of thousands of patient logins stays one
    query. A historical row may name a user deleted since; only existing users can be exported.
    """
    wanted = _members(scope)
    for part in PARTS:
        if part.model is User or part.reference:
            continue
        for f in part.model._meta.concrete_fields:
            if f.is_relation and f.related_model is User:
                wanted |= Q(pk__in=part.select(scope).order_by().values(f.attname))
    return User.objects.filter(wanted)


# The order of the file: reference data first (checked before anything is written), then parents
# before children, then the audit history (no database constraints, written last).
PARTS: list[Part] = [
    Part(Ladder, lambda s: Ladder.objects.all(), reference=True),
    Part(Stage, lambda s: Stage.objects.all(), reference=True),
    Part(Clinic, lambda s: Clinic.objects.filter(pk=s.clinic_id)),
    Part(User, _users),
    Part(Membership, lambda s: Membership.objects.filter(clinic_id=s.clinic_id)),
    Part(Patient, lambda s: Patient.objects.filter(clinic_id=s.clinic_id)),
    Part(ClearanceNote, lambda s: ClearanceNote.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(Prescription, lambda s: Prescription.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(StageChange, lambda s: StageChange.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(SetLog, lambda s: SetLog.objects.filter(patient__clinic_id=s.clinic_id)),
    Part(PainReview, lambda s: PainReview.objects.filter(patient__clinic_id=s.clinic_id)),
    # Who read or exported patient data: the read half of the audit trail (no history of its own).
    Part(AccessEvent, lambda s: AccessEvent.objects.filter(clinic_id=s.clinic_id)),
    _history_part(Membership, lambda s: Q(clinic_id=s.clinic_id)),
    _history_part(Patient, lambda s: s.of_patients("id")),
    _history_part(ClearanceNote, lambda s: s.of_patients()),
    _history_part(Prescription, lambda s: s.of_patients()),
    _history_part(StageChange, lambda s: s.of_patients()),
    _history_part(SetLog, lambda s: s.of_patients()),
    _history_part(PainReview, lambda s: s.of_patients()),
]

# Models that point at clinic data or users but stay out of the file, each with the reason.
EXCLUDED: dict[str, str] = {
    "exercises.historicalladder": (
        "The ladder is reference data shared by every clinic; its edit history belongs to the "
        "server, not to one clinic. The whole-server pg_dump keeps it."
    ),
    "exercises.historicalstage": (
        "The stages are reference data shared by every clinic; their edit history belongs to the "
        "server, not to one clinic. The whole-server pg_dump keeps it."
    ),
    "authtoken.token": (
        "API tokens are credentials, not records: after a restore, patients sign in again in the "
        "app and get a new token."
    ),
    "admin.logentry": (
        "The Django admin's log covers the whole server and names objects by text; the audit "
        "history of clinic records is in the historical rows, which are exported."
    ),
}


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


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signer() -> signing.Signer:
    # No fallback keys: Django's default would also accept SECRET_KEY_FALLBACKS, which are this
    # server's old session keys, not export keys.
    return signing.Signer(
        key=settings.EXPORT_SIGNING_KEY, salt=SIGNING_SALT, algorithm="sha256", fallback_keys=[]
    )


def header_signature(header: dict[str, Any]) -> str:
    """The signature of the header without its own signature: HMAC-SHA256 keyed by
    `EXPORT_SIGNING_KEY` over the canonical JSON, which holds the body's SHA-256 too."""
    rest = {k: v for k, v in header.items() if k != "signature"}
    return _signer().signature(_canonical(rest).decode())


def header_signed(header: dict[str, Any]) -> bool:
    signature = header.get("signature")
    if not isinstance(signature, str):
        return False
    rest = {k: v for k, v in header.items() if k != "signature"}
    try:
        _signer().unsign(f"{_canonical(rest).decode()}:{signature}")
    except signing.BadSignature:
        return False
    return True


def _schema() -> dict[str, list[str]]:
    """The migrations applied to this database for the apps in the file: rows only load into
    exactly the schema they were written from."""
    apps = sorted({part.model._meta.app_label for part in PARTS})
    applied = MigrationRecorder(connection).applied_migrations()
    return {app: sorted(name for a, name in applied if a == app) for app in apps}


def _app_version() -> str:
    try:
        return importlib.metadata.version("clamshell-clinic")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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
        connection.ensure_connection()
        mode = connection.transaction_mode  # type: ignore[attr-defined]
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                connection.transaction_mode = mode  # type: ignore[attr-defined]
                yield
        finally:
            connection.transaction_mode = mode  # type: ignore[attr-defined]
        return
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


@dataclass
class ExportSummary:
    header: dict[str, Any]
    users_with_groups: list[str] = field(default_factory=list)
    # Scanned copies named by a note but not on disk (exported without them, on request).
    documents_missing: list[str] = field(default_factory=list)


def private_storage() -> Storage:
    """Where the scanned copies of clearance notes live (`PRIVATE_FILES_ROOT`)."""
    return storages["private"]


def _documents_of(scope: Scope) -> dict[str, list[str]]:
    """The scanned copies the clinic's clearance notes name, each with the notes naming it."""
    named: dict[str, list[str]] = {}
    notes = (
        ClearanceNote.objects.filter(patient__clinic_id=scope.clinic_id)
        .exclude(document="")
        .order_by("document", "pk")
        .values_list("document", "pk", "patient__record_number")
    )
    for name, pk, record_number in notes:
        named.setdefault(name, []).append(f"clearance note {pk} (patient {record_number})")
    return named


def _documents_missing(named: dict[str, list[str]], allow: bool) -> list[str]:
    """The named documents that are not in the private storage. Refused unless `allow`: a file
    without them would restore notes whose scanned copy is gone, the signed original of a
    clinical decision."""
    storage = private_storage()
    missing = [name for name in named if not storage.exists(name)]
    if missing and not allow:
        listed = "; ".join(f"{', '.join(named[name])}: {name}" for name in missing)
        raise BackupError(
            f"{len(missing)} scanned cop{'y' if len(missing) == 1 else 'ies'} of clearance notes "
            f"{'is' if len(missing) == 1 else 'are'} missing from the private files folder "
            f"(PRIVATE_FILES_ROOT): {listed}. Restore the folder from its backup and export "
            "again; or, if the files are lost for good, export with --allow-missing-documents "
            "(the notes are kept, without their scanned copy). Nothing was written."
        )
    return missing


def _document_write(name: str, writer: _HashingWriter) -> int:
    """One line: the document's name and its bytes in base64, streamed. Returns its size."""
    size = 0
    rest = b""
    writer.write('{"document": ' + json.dumps(name, ensure_ascii=False) + ', "base64": "')
    try:
        with private_storage().open(name, "rb") as document:
            while chunk := document.read(DOCUMENT_CHUNK):
                size += len(chunk)
                data = rest + chunk
                cut = len(data) - len(data) % 3
                writer.write(base64.b64encode(data[:cut]).decode("ascii"))
                rest = data[cut:]
    except OSError as exc:
        raise BackupError(
            f"Cannot read the scanned copy {name} from the private files folder: {exc}. "
            "Nothing was written."
        ) from exc
    writer.write(base64.b64encode(rest).decode("ascii") + '"}\n')
    return size


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
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            known = ", ".join(Clinic.objects.order_by("slug").values_list("slug", flat=True))
            raise BackupError(f"No clinic with the slug '{slug}'. Clinics here: {known or 'none'}.")
        scope = Scope(clinic.pk)
        named = _documents_of(scope)
        missing = _documents_missing(named, allow_missing_documents)
        members = set(User.objects.filter(_members(scope)).values_list("pk", flat=True))
        selections = [(part, part.select(scope).order_by("pk")) for part in PARTS]
        totals = {part.label: qs.count() for part, qs in selections}
        writer = _HashingWriter(body)
        counts: dict[str, int] = {}
        progress = bar(total=sum(totals.values()), desc=f"Export {slug}", unit="row")
        for part, qs in selections:
            counts[part.label] = 0

            def counted(rows: Iterable[Any], label: str = part.label) -> Iterator[Any]:
                for row in rows:
                    counts[label] += 1
                    progress.update(1)
                    yield row

            rows: Iterable[Any] = qs.iterator(chunk_size=CHUNK)
            options: dict[str, Any] = {}
            if part.model is User:
                rows = _users_for_file(rows, members)
                options["fields"] = [
                    f.name
                    for f in User._meta.get_fields()
                    if f.concrete and not f.primary_key and f.name not in USER_FIELDS_LEFT_OUT
                ]
            serializers.serialize(
                "jsonl", counted(rows), stream=writer, cls=ExactJSONEncoder, **options
            )
        progress.close()
        documents: dict[str, int] = {}
        # No bar for a clinic without scanned copies.
        progress = (bar if len(named) > len(missing) else NO_BAR)(
            total=len(named) - len(missing), desc="Documents", unit="file"
        )
        for name in named:
            if name not in missing:
                documents[name] = _document_write(name, writer)
                progress.update(1)
        progress.close()
        users_with_groups = sorted(
            User.objects.filter(_members(scope))
            .filter(Q(groups__isnull=False) | Q(user_permissions__isnull=False))
            .values_list("username", flat=True)
            .distinct()
        )
        header: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": _app_version(),
            "clinic": {"id": clinic.pk, "slug": clinic.slug, "name": clinic.name},
            "exported_at": (now or timezone.now()).astimezone(dt.UTC).isoformat(),
            "schema": _schema(),
            "counts": counts,
            "reference": [part.label for part in PARTS if part.reference],
            "documents": documents,
            "documents_missing": missing,
            "body_sha256": writer.digest.hexdigest(),
        }
        header["signature"] = header_signature(header)
        out.write(_canonical(header) + b"\n")
        body.seek(0)
        while chunk := body.read(1 << 20):
            out.write(chunk)
    return ExportSummary(
        header=header,
        users_with_groups=users_with_groups,
        documents_missing=[f"{', '.join(named[name])}: {name}" for name in missing],
    )


def _users_for_file(rows: Iterable[Any], members: set[int]) -> Iterator[Any]:
    for user in rows:
        if user.pk not in members:
            for name, value in REFERENCED_ONLY.items():
                setattr(user, name, value)  # in memory only: the file gets the stripped copy
        yield user


# --- import ---------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    header: dict[str, Any]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    # Users the file marked as staff or superuser: they come in without those rights.
    privileges_removed: list[str] = field(default_factory=list)
    # Scanned copies of clearance notes written to the private storage.
    documents: int = 0


# Why a signature fails, and what to do; the same words for every server of a move.
_KEY_HINT = (
    "Both servers of a move must share the same EXPORT_SIGNING_KEY (an environment variable; "
    "docs/backups.md): export again with the key this server has, or set the exporting "
    "server's key here."
)


def header_read(source: IO[bytes]) -> dict[str, Any]:
    """Read and check the header line, its signature included: a file we don't understand, or
    one we cannot prove was exported with this server's key, is refused before any work."""
    line = source.readline(MAX_HEADER_BYTES)
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(
            "This is not a clinic export: its first line is not a header of the "
            f"'{FORMAT}' format. Give a file written by `manage.py export_clinic`."
        )
    version = header.get("format_version")
    if version == 1:
        raise BackupError(
            "The file has format version 1: an unsigned export, written by an earlier version "
            f"of the app ({header.get('app_version', 'unknown')}). This app (version "
            f"{_app_version()}) imports signed exports (version {FORMAT_VERSION}) only. Export "
            "the clinic again with this version of the app, on a server that shares this "
            "server's EXPORT_SIGNING_KEY. Nothing was imported."
        )
    if version != FORMAT_VERSION:
        raise BackupError(
            f"The file has format version {version!r}; this app (version {_app_version()}) reads "
            f"version {FORMAT_VERSION} only. Import it with the app version that wrote it "
            f"({header.get('app_version', 'unknown')})."
        )
    if "signature" not in header:
        raise BackupError(
            "The file is not signed: its header has no signature, so nothing proves it is an "
            f"export of this app. Nothing was imported. {_KEY_HINT}"
        )
    if not header_signed(header):
        raise BackupError(
            "The file's signature does not match its header: the file was changed after export, "
            f"or it was signed with another key. Nothing was imported. {_KEY_HINT}"
        )
    expected = {
        "app_version": str,
        "clinic": dict,
        "exported_at": str,
        "schema": dict,
        "counts": dict,
        "reference": list,
        "documents": dict,
        "documents_missing": list,
        "body_sha256": str,
    }
    for key, kind in expected.items():
        if not isinstance(header.get(key), kind):
            raise BackupError(f"The file's header lacks '{key}' or has the wrong type: damaged.")
    if not (
        all(isinstance(n, int) and n >= 0 for n in header["counts"].values())
        and all(isinstance(n, int) and n >= 0 for n in header["documents"].values())
        and all(isinstance(name, str) for name in header["documents_missing"])
    ):
        raise BackupError("The file's header has counts or document sizes that are not numbers.")
    return header


def _body_digest(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _check_target(header: dict[str, Any]) -> None:
    here = _schema()
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


def clinic_import(*, source: IO[bytes], bar: BarFactory = NO_BAR) -> ImportSummary:
    """Restore a clinic from an export into a database that holds none of its rows.

    Everything happens in one transaction: any refusal or failure leaves the database as it was.
    Rows are stored as they are, never through the models' save(): in batches (`bulk_create`,
    no signals) or, for models whose fields stamp the time on save, one by one with a raw save
    (`DeserializedObject.save()`). Either way django-simple-history writes no new history: the
    history in the file is restored as it was.

    Before the transaction commits, the clinical rows are checked against the rules the services
    apply when they write them (`clinic.data.backup_checks`), and then the scanned copies of the
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
    _check_target(header)
    source.seek(body_start)

    by_label = {part.label: part for part in PARTS}
    counts = dict.fromkeys(header["counts"], 0)
    warnings: list[str] = []
    privileges_removed: list[str] = []
    owned = _Ownership(
        clinic_id=header["clinic"].get("id"), clinic_slug=header["clinic"].get("slug")
    )
    written: list[type[models.Model]] = []
    # Scanned copies the file's clearance notes name, and those this import wrote to disk.
    named: set[str] = set()
    files_written: list[str] = []
    batch: list[models.Model] = []
    total = sum(header["counts"].values())
    progress = bar(total=total, desc="Import", unit="row")
    current = "the file"
    committed = False

    def flush() -> None:
        nonlocal current
        if batch:
            current = f"{batch[0]._meta.label_lower} ids {batch[0].pk}-{batch[-1].pk}"
            type(batch[0])._base_manager.bulk_create(batch)
            progress.update(len(batch))
            batch.clear()

    try:
        with transaction.atomic():
            for item in serializers.deserialize("jsonl", _lines(source, total)):
                obj = item.object
                label = obj._meta.label_lower
                part = by_label.get(label)
                if part is None or label not in counts:
                    raise BackupError(f"The file holds rows of {label}, which it does not list.")
                counts[label] += 1
                if batch and (type(batch[0]) is not type(obj) or len(batch) >= CHUNK):
                    flush()
                current = f"{label} {obj.pk}"
                if part.model not in written and not part.reference:
                    written.append(part.model)
                if part.reference:
                    warnings += _compare_reference(obj)
                    progress.update(1)
                    continue
                _check_absent(item, header)
                owned.check(obj)
                if isinstance(obj, User) and _privileges_strip(obj):
                    privileges_removed.append(obj.get_username())
                if isinstance(obj, ClearanceNote) and obj.document.name:
                    named.add(obj.document.name)
                if _insert_as_is(type(obj)) and not item.m2m_data:
                    batch.append(obj)
                else:
                    item.save(force_insert=True)
                    progress.update(1)
            flush()
            progress.close()
            if counts != header["counts"]:
                raise BackupError(
                    f"The rows in the file do not match the header's counts ({counts} against "
                    f"{header['counts']}). Nothing was imported."
                )
            current = "the check of the imported rows"
            _replay_check(header, bar)
            current = "the scanned copies of the clearance notes"
            warnings += _documents_restore(source, header, named, files_written, bar)
            _sequences_reset(written, owned.deleted)
            # PostgreSQL checks foreign keys when the transaction commits.
            current = "the import as a whole (a row points at one that is missing)"
        committed = True
    except DeserializationError as exc:
        raise BackupError(
            f"Cannot read a row after {current}: {exc}. Nothing was imported."
        ) from exc
    except DatabaseError as exc:
        # A collision with an existing row, or a row pointing at one that is missing.
        raise BackupError(
            f"The database refused {current}: {exc}. Nothing was imported. Import into a "
            "database that holds none of this clinic's rows."
        ) from exc
    finally:
        progress.close()
        if not committed:
            _documents_remove(files_written)
    return ImportSummary(
        header=header,
        counts=counts,
        warnings=warnings,
        privileges_removed=privileges_removed,
        documents=len(files_written),
    )


def _replay_check(header: dict[str, Any], bar: BarFactory) -> None:
    """Refuse the import unless every clinical row passes the services' rules (`backup_checks`)."""
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


def _documents_restore(
    source: IO[bytes],
    header: dict[str, Any],
    named: set[str],
    files_written: list[str],
    bar: BarFactory,
) -> list[str]:
    """Write the file's scanned copies to the private storage, appending each name written to
    `files_written` (for the caller to remove them if the import fails after all).

    The documents are the lines after the rows, in the order of the header's `documents`; they
    must be exactly the ones the clearance notes name (but those the export listed as missing).
    A file already in the storage under the same name is left alone if it holds the same bytes
    (an earlier restore), and refused otherwise.
    """
    listed: dict[str, Any] = header["documents"]
    missing = set(header["documents_missing"])
    if set(listed) | missing != named or set(listed) & missing:
        unlisted = sorted(named - set(listed) - missing)
        extra = sorted((set(listed) | missing) - named)
        raise BackupError(
            "The file's scanned copies do not match its clearance notes (named by a note but "
            f"not in the file: {', '.join(unlisted) or 'none'}; in the file but named by no "
            f"note: {', '.join(extra) or 'none'}). Nothing was imported."
        )
    storage = private_storage()
    progress = (bar if listed else NO_BAR)(total=len(listed), desc="Documents", unit="file")
    try:
        for name, size in listed.items():
            try:
                validate_file_name(name, allow_relative_path=True)
            except SuspiciousFileOperation as exc:
                raise BackupError(
                    f"The file names a scanned copy '{name}' outside the private files folder. "
                    "Nothing was imported."
                ) from exc
            data = _document_read(source, name, size)
            try:
                _document_store(storage, name, data, files_written)
            except OSError as exc:
                raise BackupError(
                    f"Cannot write the scanned copy {name} to the private files folder "
                    f"(PRIVATE_FILES_ROOT): {exc}. Nothing was imported."
                ) from exc
            progress.update(1)
    finally:
        progress.close()
    if source.read(1):
        raise BackupError(
            "The file goes on after its last document: damaged. Nothing was imported."
        )
    if missing:
        return [
            f"{len(missing)} clearance note(s) name a scanned copy that was missing when the "
            f"clinic was exported; they are restored without it: {', '.join(sorted(missing))}."
        ]
    return []


def _document_store(storage: Storage, name: str, data: bytes, files_written: list[str]) -> None:
    if storage.exists(name):
        with storage.open(name, "rb") as existing:
            if existing.read() != data:
                raise BackupError(
                    f"The private files folder already holds {name}, with other content than "
                    "the file's scanned copy of that name. Import into a server without this "
                    "clinic's documents; nothing was imported."
                )
        return
    saved = storage.save(name, ContentFile(data))
    files_written.append(saved)
    if saved != name:
        raise BackupError(
            f"The private storage stored the scanned copy {name} as {saved}. Nothing was imported."
        )


def _document_read(source: IO[bytes], name: str, size: int) -> bytes:
    # The line's length is known from the size: a longer line is not the document.
    limit = 4 * (size // 3 + 1) + 6 * len(name) + 64
    line = source.readline(limit)
    try:
        entry = json.loads(line)
        data = base64.b64decode(entry["base64"], validate=True)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BackupError(
            f"Cannot read the scanned copy {name} from the file: damaged. Nothing was imported."
        ) from exc
    if entry.get("document") != name or len(data) != size:
        raise BackupError(
            f"The file's document line for {name} does not match its header (name or size): "
            "damaged. Nothing was imported."
        )
    return data


def _documents_remove(names: list[str]) -> None:
    """Undo `_documents_restore` after a failed import: best effort, nothing else to roll back."""
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            continue


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


def _check_absent(item: DeserializedObject, header: dict[str, Any]) -> None:
    """Clear refusals for the collisions people will meet; the database catches the rest."""
    obj = item.object
    if isinstance(obj, Clinic) and (obj.pk, obj.slug) != (
        header["clinic"]["id"],
        header["clinic"]["slug"],
    ):
        raise BackupError("The clinic in the file is not the one its header names: damaged.")
    if isinstance(obj, User):
        username = obj.get_username()
        clash = User.objects.filter(Q(pk=obj.pk) | Q(**{User.USERNAME_FIELD: username})).first()
        if clash is not None:
            raise BackupError(
                f"The user '{username}' (id {obj.pk}) would collide with the user "
                f"'{clash.get_username()}' (id {clash.pk}) already in this database. "
                "import_clinic only restores into a database without the clinic's users; "
                "nothing was imported."
            )


def _privileges_strip(user: Any) -> bool:
    """Admin rights belong to a server, not to a clinic: an import never grants them, whatever
    the file says. The signature proves the file was signed with the export key, which every
    server of a move holds; it does not prove no one with that key edited it. Returns whether
    there was anything to remove, so the command can name who to re-grant."""
    had = bool(user.is_staff or user.is_superuser)
    user.is_staff = user.is_superuser = False
    return had


class _Ownership:
    """Every row of the file must belong to the clinic its header names.

    Defence in depth: the signature refuses a file changed by anyone without the export key, but
    the key is shared by every server of a move, and a file signed with it is only as sound as
    the hands it passed through. Without these checks such a file could add a membership or a
    patient to another clinic already in this database, or hang rows of this clinic on another
    clinic's patients. A real export never does: the rows are selected by clinic and patient.

    - A reference to a clinic names the file's clinic.
    - A live row's reference to another exported row (user, patient, prescription, ...) names a
      row imported from the file earlier (parents come first in the file).
    - A history row may also name an object that was deleted before the export, if that object's
      own history came with the file; its user references are not checked (a history row may
      name a user deleted since, and names no one's rights).
    - A history row's object is imported from the file, or is not in this database: history is
      never added to an object that is already here.
    """

    def __init__(self, *, clinic_id: Any, clinic_slug: Any) -> None:
        self.clinic_id = clinic_id
        self.clinic_slug = clinic_slug
        self.exported = {part.model for part in PARTS if not part.reference}
        # Primary keys imported so far, of the models other rows point at or keep history of
        # (not of every model: a clinic's million set logs need not be held twice).
        self.kept = {
            target
            for model in self.exported
            for target in [getattr(model, "instance_type", None)]
            + [f.related_model for f in model._meta.concrete_fields if f.is_relation]
            if target in self.exported
        }
        self.ids: dict[type[models.Model], set[Any]] = {model: set() for model in self.kept}
        # Objects deleted before the export whose history is in the file, per model.
        self.deleted: dict[type[models.Model], set[Any]] = {model: set() for model in self.kept}

    def check(self, obj: models.Model) -> None:
        model = type(obj)
        tracked: type[models.Model] | None = getattr(model, "instance_type", None)
        for f in model._meta.concrete_fields:
            if not f.is_relation:
                continue
            value = getattr(obj, f.attname)
            target = f.related_model
            if value is None or target in (Ladder, Stage):
                continue  # reference data: checked against this database's ladder
            if target is Clinic:
                if value != self.clinic_id:
                    self._refuse(
                        obj,
                        f"belongs to clinic id {value}, not to the file's clinic "
                        f"'{self.clinic_slug}' (id {self.clinic_id})",
                    )
            elif tracked is not None and target is User:
                continue
            elif target not in self.exported:
                self._refuse(obj, f"points at {target._meta.label_lower} {value}, not in the file")
            elif value not in self.ids[target] and (
                tracked is None or value not in self.deleted[target]
            ):
                self._refuse(
                    obj,
                    f"points at {target._meta.label_lower} {value} (field '{f.name}'), which is "
                    "not among the file's rows",
                )
        if tracked is not None:
            object_id = getattr(obj, tracked._meta.pk.attname)
            if object_id not in self.ids[tracked] and object_id not in self.deleted[tracked]:
                # Not imported from the file: a deleted object's history (one query per such
                # object; deleted objects are few).
                if tracked._base_manager.filter(pk=object_id).exists():
                    self._refuse(
                        obj,
                        f"is history of {tracked._meta.label_lower} {object_id}, which is in "
                        "this database and not in the file",
                    )
                self.deleted[tracked].add(object_id)
        if model in self.kept:
            self.ids[model].add(obj.pk)

    @staticmethod
    def _refuse(obj: models.Model, reason: str) -> None:
        raise BackupError(
            f"The file's {obj._meta.label_lower} {obj.pk} {reason}. An export holds one clinic's "
            "rows only: this file was edited or put together by hand. Nothing was imported."
        )


def _compare_reference(obj: models.Model) -> list[str]:
    """The ladder must be the same rows here: prescriptions and sets point at stages by id.

    What a stage *is* (its ladder and number; a ladder's slug) must match, or the import refuses.
    Its wording may differ (an edit through the admin); that is reported, and the target's text
    is kept.
    """
    model = type(obj)
    here = model._default_manager.filter(pk=obj.pk).first()
    if isinstance(obj, Stage):
        identity = ["ladder_id", "number"]
        name = f"stage {obj.number} (id {obj.pk})"
    else:
        identity = ["slug"]
        name = f"ladder '{getattr(obj, 'slug', obj.pk)}' (id {obj.pk})"
    if here is None or any(getattr(here, f) != getattr(obj, f) for f in identity):
        raise BackupError(
            f"This database's ladder differs from the file's: {name} is missing or is another "
            "stage here. Restore into a database created by the same migrations; nothing was "
            "imported."
        )
    differing = [
        f.name
        for f in model._meta.concrete_fields
        if f.value_from_object(here) != f.value_from_object(obj)
    ]
    if differing:
        return [
            f"The {name} reads differently here ({', '.join(differing)}); kept this database's."
        ]
    return []


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
            table, column, high = model._meta.db_table, model._meta.pk.column, max(ids)
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
