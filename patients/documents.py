"""The scanned copy of a clearance sign-off: what is accepted, judged by the file's content.

A scan is a PDF, a JPEG or a PNG of at most 10 MB. The name and the browser's content type are
whatever the uploader's machine says, so neither decides: Pillow must open the bytes as a JPEG or a
PNG and find the image intact, or pypdf must read them as a PDF with at least one page. A file
that is something else, damaged, or over the limit is refused with a message that says which.
"""

from __future__ import annotations

import io
import logging

from django.core.exceptions import ValidationError
from django.core.files.base import File
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from patients.models import DocumentType

DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
# A scan's pixels, at most: 100 megapixels is a 600 dpi A3 page with room to spare, and keeps a
# small file that unpacks into gigabytes (a "decompression bomb") from being opened.
MAX_PIXELS = 100_000_000
_IMAGE_TYPES = {"JPEG": DocumentType.JPEG, "PNG": DocumentType.PNG}
ACCEPTED = "a PDF, JPEG or PNG file of at most 10 MB"

# pypdf logs every oddity of a damaged file as a warning; the refusal already says it is damaged.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def document_type_of(upload: File[bytes]) -> str:
    """The `DocumentType` of an uploaded scan, from its content; ValidationError otherwise."""
    size = upload.size or 0
    if size > DOCUMENT_MAX_BYTES:
        raise ValidationError(
            f"The file is {size / 1024 / 1024:.1f} MB; the scanned copy must be {ACCEPTED}.",
            code="too_large",
        )
    if size == 0:
        raise ValidationError(f"The file is empty; the scanned copy must be {ACCEPTED}.")
    upload.seek(0)
    data = upload.read(DOCUMENT_MAX_BYTES + 1)
    upload.seek(0)
    if data.startswith(b"%PDF-"):
        return _pdf(data)
    return _image(data)


def _pdf(data: bytes) -> str:
    try:
        pages = len(PdfReader(io.BytesIO(data)).pages)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ValidationError(
            f"The file starts like a PDF but cannot be read as one (damaged?); the scanned copy "
            f"must be {ACCEPTED}."
        ) from exc
    if pages < 1:
        raise ValidationError("The PDF has no pages.")
    return DocumentType.PDF


def _image(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if image.width * image.height > MAX_PIXELS:
                raise ValidationError(
                    f"The image is {image.width} × {image.height} pixels, too large to be a "
                    "scan; save it at a lower resolution."
                )
            image.verify()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValidationError(
            f"This file is not a PDF, JPEG or PNG (whatever its name says); the scanned copy "
            f"must be {ACCEPTED}."
        ) from exc
    if kind not in _IMAGE_TYPES:
        raise ValidationError(f"This file is a {kind} image; the scanned copy must be {ACCEPTED}.")
    return _IMAGE_TYPES[kind]
