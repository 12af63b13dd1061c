"""The export's header line: its format and version, the schema it was written from, its signature.

The header is canonical JSON (sorted keys, no spaces) signed with `settings.EXPORT_SIGNING_KEY`
(HMAC-SHA256 through Django's `Signer`, with `SIGNING_SALT`). It holds the SHA-256 of the body, so
the signature covers every byte of the file. `header_read` is the import's first look at a file:
anything it does not understand, or cannot verify with this server's key, is refused there.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from clinic.data.backup.errors import BackupError
from clinic.data.backup.parts import PARTS
from patients.models import Clinic

FORMAT = "clamshell-clinic-export"
# 1: unsigned (a plain SHA-256 of the header); 2: signed, with the scanned documents.
FORMAT_VERSION = 2
# A header line longer than this is not ours: refuse before parsing it. The header lists every
# scanned document by name and size (about 60 bytes each): room for some 250,000 of them.
MAX_HEADER_BYTES = 16_000_000
# Separates the signature's purpose from every other use of the key.
SIGNING_SALT = "clinic.backup.export"  # fixed: exports signed earlier must still verify

# Why a signature fails, and what to do; the same words for every server of a move.
_KEY_HINT = (
    "Both servers of a move must share the same EXPORT_SIGNING_KEY (an environment variable; "
    "docs/backups.md): export again with the key this server has, or set the exporting "
    "server's key here."
)
# The fields a signed header of this version holds besides its format, and their JSON types.
_FIELDS: dict[str, type] = {
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


def schema() -> dict[str, list[str]]:
    """The migrations applied to this database for the apps in the file: rows only load into
    exactly the schema they were written from."""
    apps = sorted({part.model._meta.app_label for part in PARTS})
    applied = MigrationRecorder(connection).applied_migrations()
    return {app: sorted(name for a, name in applied if a == app) for app in apps}


def app_version() -> str:
    try:
        return importlib.metadata.version("clamshell-clinic")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def signed_header(
    *,
    clinic: Clinic,
    exported_at: dt.datetime,
    counts: dict[str, int],
    documents: dict[str, int],
    documents_missing: list[str],
    body_sha256: str,
) -> dict[str, Any]:
    """The header of an export whose body has been written: what it holds, and its signature."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "app_version": app_version(),
        "clinic": {"id": clinic.pk, "slug": clinic.slug, "name": clinic.name},
        "exported_at": exported_at.astimezone(dt.UTC).isoformat(),
        "schema": schema(),
        "counts": counts,
        "reference": [part.label for part in PARTS if part.reference],
        "documents": documents,
        "documents_missing": documents_missing,
        "body_sha256": body_sha256,
    }
    header["signature"] = header_signature(header)
    return header


def header_line(header: dict[str, Any]) -> bytes:
    """The file's first line."""
    return _canonical(header) + b"\n"


def header_read(source: IO[bytes]) -> dict[str, Any]:
    """Read and check the header line, its signature included: a file we don't understand, or
    one we cannot prove was exported with this server's key, is refused before any work."""
    header = _header_parse(source.readline(MAX_HEADER_BYTES))
    _version_check(header)
    _signature_check(header)
    _fields_check(header)
    return header


def _header_parse(line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(
            "This is not a clinic export: its first line is not a header of the "
            f"'{FORMAT}' format. Give a file written by `manage.py export_clinic`."
        )
    return header


def _version_check(header: dict[str, Any]) -> None:
    version = header.get("format_version")
    if version == 1:
        raise BackupError(
            "The file has format version 1: an unsigned export, written by an earlier version "
            f"of the app ({header.get('app_version', 'unknown')}). This app (version "
            f"{app_version()}) imports signed exports (version {FORMAT_VERSION}) only. Export "
            "the clinic again with this version of the app, on a server that shares this "
            "server's EXPORT_SIGNING_KEY. Nothing was imported."
        )
    if version != FORMAT_VERSION:
        raise BackupError(
            f"The file has format version {version!r}; this app (version {app_version()}) reads "
            f"version {FORMAT_VERSION} only. Import it with the app version that wrote it "
            f"({header.get('app_version', 'unknown')})."
        )


def _signature_check(header: dict[str, Any]) -> None:
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


def _fields_check(header: dict[str, Any]) -> None:
    """Signed does not mean sound (someone holding the key may have written it): every field the
    import reads must have the type it reads it as."""
    for key, kind in _FIELDS.items():
        if not isinstance(header.get(key), kind):
            raise BackupError(f"The file's header lacks '{key}' or has the wrong type: damaged.")
    if not (
        all(isinstance(n, int) and n >= 0 for n in header["counts"].values())
        and all(isinstance(n, int) and n >= 0 for n in header["documents"].values())
        and all(isinstance(name, str) for name in header["documents_missing"])
    ):
        raise BackupError("The file's header has counts or document sizes that are not numbers.")
