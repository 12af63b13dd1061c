"""One clinic's data as a file, and back: `manage.py export_clinic` / `manage.py import_clinic`.

The whole-server backup is PostgreSQL's `pg_dump` (docs/backups.md). This per-clinic file exists
for what pg_dump cannot do: move one clinic to another server, or restore one clinic's records
into an empty database without rolling back every other clinic.

The file is JSON Lines. Line 1 is a header (format and app version, the clinic, the time of export,
the database schema, row counts per model, a SHA-256 of the body and a checksum of the header
itself); every further line is one row in Django's serialization format (`jsonl`), with times
written to the microsecond (Django's own JSON encoder cuts them to milliseconds). Rows keep their
primary keys, because audit history rows point at object ids and set logs at prescriptions.

The checksums have no key: they detect damage, not tampering. A key would tie a file to one
server's secret, and moving a clinic between servers is the point. So the import does not trust
what passes them: every row must belong to the header's clinic (`_Ownership`), and no user comes
in with staff or superuser status.

What goes in is declared once, in `PARTS`; what stays out, with the reason, in `EXCLUDED`. A test
(tests/clinic/test_backup.py) fails when a model of `patients` or `exercises`, or any model that
points at a clinic, a patient or a user, is in neither, so a new model cannot silently miss the
backups.
"""

from __future__ import annotations

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

from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError, DeserializedObject
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q, QuerySet
from django.utils import timezone
from tqdm import tqdm

from exercises.models import Ladder, Prescription, SetLog, Stage, StageChange
from patients.models import AccessEvent, ClearanceNote, Clinic, Membership, Patient

FORMAT = "clamshell-clinic-export"
FORMAT_VERSION = 1
# A header line longer than this is not ours: refuse before parsing megabytes of JSON.
MAX_HEADER_BYTES = 1_000_000
CHUNK = 2000

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
    # Who read or exported patient data: the read half of the audit trail (no history of its own).
    Part(AccessEvent, lambda s: AccessEvent.objects.filter(clinic_id=s.clinic_id)),
    _history_part(Membership, lambda s: Q(clinic_id=s.clinic_id)),
    _history_part(Patient, lambda s: s.of_patients("id")),
    _history_part(ClearanceNote, lambda s: s.of_patients()),
    _history_part(Prescription, lambda s: s.of_patients()),
    _history_part(StageChange, lambda s: s.of_patients()),
    _history_part(SetLog, lambda s: s.of_patients()),
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


def header_checksum(header: dict[str, Any]) -> str:
    """SHA-256 of the header without its own checksum (the body is covered by `body_sha256`)."""
    rest = {k: v for k, v in header.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(_canonical(rest)).hexdigest()


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


def clinic_export(
    *, slug: str, out: IO[bytes], bar: BarFactory = NO_BAR, now: dt.datetime | None = None
) -> ExportSummary:
    """Write everything of the clinic `slug` to `out`: the header line, then one row per line."""
    with _snapshot(), tempfile.TemporaryFile() as body:
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            known = ", ".join(Clinic.objects.order_by("slug").values_list("slug", flat=True))
            raise BackupError(f"No clinic with the slug '{slug}'. Clinics here: {known or 'none'}.")
        scope = Scope(clinic.pk)
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
            "body_sha256": writer.digest.hexdigest(),
        }
        header["checksum"] = header_checksum(header)
        out.write(_canonical(header) + b"\n")
        body.seek(0)
        while chunk := body.read(1 << 20):
            out.write(chunk)
    return ExportSummary(header=header, users_with_groups=users_with_groups)


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


def header_read(source: IO[bytes]) -> dict[str, Any]:
    """Read and check the header line: a file we don't understand is refused before any work."""
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
    if version != FORMAT_VERSION:
        raise BackupError(
            f"The file has format version {version!r}; this app (version {_app_version()}) reads "
            f"version {FORMAT_VERSION} only. Import it with the app version that wrote it "
            f"({header.get('app_version', 'unknown')})."
        )
    expected = {
        "app_version": str,
        "clinic": dict,
        "exported_at": str,
        "schema": dict,
        "counts": dict,
        "reference": list,
        "body_sha256": str,
        "checksum": str,
    }
    for key, kind in expected.items():
        if not isinstance(header.get(key), kind):
            raise BackupError(f"The file's header lacks '{key}' or has the wrong type: damaged.")
    if header_checksum(header) != header["checksum"]:
        raise BackupError(
            "The header's checksum does not match: the file is damaged or was edited. "
            "Nothing was imported."
        )
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


def _lines(source: IO[bytes]) -> Iterator[str]:
    for raw in source:
        yield raw.decode()


def clinic_import(*, source: IO[bytes], bar: BarFactory = NO_BAR) -> ImportSummary:
    """Restore a clinic from an export into a database that holds none of its rows.

    Everything happens in one transaction: any refusal or failure leaves the database as it was.
    Rows are stored as they are, never through the models' save(): in batches (`bulk_create`,
    no signals) or, for models whose fields stamp the time on save, one by one with a raw save
    (`DeserializedObject.save()`). Either way django-simple-history writes no new history: the
    history in the file is restored as it was.
    """
    header = header_read(source)
    body_start = source.tell()
    if _body_digest(source) != header["body_sha256"]:
        raise BackupError(
            "The body's SHA-256 does not match the header: the file is damaged or was edited. "
            "Nothing was imported."
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
    batch: list[models.Model] = []
    progress = bar(total=sum(header["counts"].values()), desc="Import", unit="row")
    current = "the file"

    def flush() -> None:
        nonlocal current
        if batch:
            current = f"{batch[0]._meta.label_lower} ids {batch[0].pk}-{batch[-1].pk}"
            type(batch[0])._base_manager.bulk_create(batch)
            progress.update(len(batch))
            batch.clear()

    try:
        with transaction.atomic():
            for item in serializers.deserialize("jsonl", _lines(source)):
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
                if _insert_as_is(type(obj)) and not item.m2m_data:
                    batch.append(obj)
                else:
                    item.save(force_insert=True)
                    progress.update(1)
            flush()
            if counts != header["counts"]:
                raise BackupError(
                    f"The rows in the file do not match the header's counts ({counts} against "
                    f"{header['counts']}). Nothing was imported."
                )
            _sequences_reset(written, owned.deleted)
            # PostgreSQL checks foreign keys when the transaction commits.
            current = "the import as a whole (a row points at one that is missing)"
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
    return ImportSummary(
        header=header, counts=counts, warnings=warnings, privileges_removed=privileges_removed
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
    the file says (the checksums cannot tell an edited file from a real one). Returns whether
    there was anything to remove, so the command can name who to re-grant."""
    had = bool(user.is_staff or user.is_superuser)
    user.is_staff = user.is_superuser = False
    return had


class _Ownership:
    """Every row of the file must belong to the clinic its header names.

    The checksums are unkeyed (they catch damage, not edits), so an edited file with recomputed
    checksums is as readable as a real one. Without these checks it could add a membership or a
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
