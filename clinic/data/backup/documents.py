"""The scanned copies of clearance notes in a clinic export: written after the rows, restored last.

The copies are files in the private storage (`PRIVATE_FILES_ROOT`), not rows, so pg_dump misses
them and the export carries them itself: one line per file, `{"document": name, "base64": ...}`,
in the order of the header's `documents` (name and size). The import writes them after the replay
check and removes them again if anything fails after that, so a refused import leaves no files.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import IO, Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.utils import validate_file_name

from clinic.data.backup.errors import BackupError
from clinic.data.backup.parts import Scope
from clinic.data.progress_bar import NO_BAR, BarFactory
from patients.models import ClearanceNote

# Documents are read and encoded in pieces of this many bytes (a multiple of 3: base64 pieces
# then join without padding in between).
DOCUMENT_CHUNK = 3 * 256 * 1024


def private_storage() -> Storage:
    """Where the scanned copies of clearance notes live (`PRIVATE_FILES_ROOT`)."""
    return storages["private"]


# --- export -------------------------------------------------------------------------------------


def documents_of(scope: Scope) -> dict[str, list[str]]:
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


def documents_missing(named: dict[str, list[str]], allow: bool) -> list[str]:
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


def document_write(name: str, write: Callable[[str], Any]) -> int:
    """One line: the document's name and its bytes in base64, streamed. Returns its size."""
    size = 0
    rest = b""
    write('{"document": ' + json.dumps(name, ensure_ascii=False) + ', "base64": "')
    try:
        with private_storage().open(name, "rb") as document:
            while chunk := document.read(DOCUMENT_CHUNK):
                size += len(chunk)
                data = rest + chunk
                cut = len(data) - len(data) % 3
                write(base64.b64encode(data[:cut]).decode("ascii"))
                rest = data[cut:]
    except OSError as exc:
        raise BackupError(
            f"Cannot read the scanned copy {name} from the private files folder: {exc}. "
            "Nothing was written."
        ) from exc
    write(base64.b64encode(rest).decode("ascii") + '"}\n')
    return size


# --- import -------------------------------------------------------------------------------------


def documents_restore(
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
    (an earlier restore), and refused otherwise. Returns the warnings for the command to show.
    """
    listed: dict[str, Any] = header["documents"]
    missing = set(header["documents_missing"])
    _documents_match(listed, missing, named)
    storage = private_storage()
    progress = (bar if listed else NO_BAR)(total=len(listed), desc="Documents", unit="file")
    try:
        for name, size in listed.items():
            _document_restore(source, storage, name, size, files_written)
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


def _documents_match(listed: dict[str, Any], missing: set[str], named: set[str]) -> None:
    if set(listed) | missing != named or set(listed) & missing:
        unlisted = sorted(named - set(listed) - missing)
        extra = sorted((set(listed) | missing) - named)
        raise BackupError(
            "The file's scanned copies do not match its clearance notes (named by a note but "
            f"not in the file: {', '.join(unlisted) or 'none'}; in the file but named by no "
            f"note: {', '.join(extra) or 'none'}). Nothing was imported."
        )


def _document_restore(
    source: IO[bytes], storage: Storage, name: str, size: int, files_written: list[str]
) -> None:
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


def documents_remove(names: list[str]) -> None:
    """Undo `documents_restore` after a failed import: best effort, nothing else to roll back."""
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            continue
