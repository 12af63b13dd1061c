"""A tqdm progress bar drawn on a management command's own output stream."""

from __future__ import annotations

from django.core.management.base import OutputWrapper


class ProgressStream:
    """Lets tqdm draw on a command's stdout (so `call_command` can capture it).

    tqdm redraws its line with "\\r"; OutputWrapper would add a newline to every write and colour
    stderr as an error on a terminal. Write through it with neither.
    """

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out

    def write(self, text: str) -> None:
        self._out.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self._out.flush()
