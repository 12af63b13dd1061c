"""Progress bars for management commands that take more than a few seconds (seed_demo,
generate_network, export_clinic, import_clinic).

The commands make a bar factory with `progress_bar` and hand it to the work they call; that work
takes a `BarFactory` and defaults to `NO_BAR`, so it stays silent when called from code or tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.management.base import OutputWrapper
from tqdm import tqdm

# tqdm's signature: called with the bar's options (total, desc, unit), returns the bar.
BarFactory = Callable[..., tqdm]
NO_BAR: BarFactory = partial(tqdm, disable=True)


class ProgressStream:
    """Lets tqdm draw on a command's own stream (so `call_command` can capture it).

    tqdm redraws its line with "\\r"; OutputWrapper would add a newline to every write, and on a
    terminal it would colour stderr as an error. Write through it with neither.
    """

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out

    def write(self, text: str) -> None:
        self._out.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self._out.flush()

    @property
    def encoding(self) -> str | None:
        return getattr(self._out, "encoding", None)


def progress_bar(out: OutputWrapper, verbosity: int) -> Callable[..., Any]:
    """`tqdm` drawn on `out`, silent at verbosity 0, at most 100 columns wide."""
    return partial(
        tqdm,
        file=ProgressStream(out),
        disable=verbosity == 0,
        ncols=min(100, shutil.get_terminal_size().columns),
        mininterval=0.5,
    )
