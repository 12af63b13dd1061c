"""The API's JSON parser: DRF's, with the two limits it lacks.

- Size: DRF reads the body straight from the request stream, which skips Django's
  DATA_UPLOAD_MAX_MEMORY_SIZE check (Django applies it only to `request.body` and form data), so a
  client could send a body of any size. This parser reads at most the limit and answers 413.
- Depth: Python's JSON decoder recurses once per nesting level and raises RecursionError (not the
  ValueError DRF turns into a 400) on `[[[[…` a few thousand levels deep: a 500 for a 200 KB body.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.exceptions import ParseError


class PayloadTooLarge(exceptions.APIException):
    # Here rather than in errors.py: DRF imports the parsers while errors.py loads (a cycle).
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        super().__init__(
            f"The request body is larger than {limit / (1024 * 1024):g} MB: send fewer sets "
            f"per batch."
        )


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            # One byte more than allowed tells "at the limit" from "over it", whatever the
            # Content-Length header claims.
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge()
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the JSON is nested too deeply.") from None
