"""Our markup needs nothing the Content Security Policy blocks (docs/security.md).

The policy runs an inline <script> or <style> only with the response's nonce, and never an inline
style="" attribute or an on* event handler. This reads every template and the Python modules that
write SVG, so a new inline handler fails here at once; tests/browser/test_csp.py then proves the
rendered pages in Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((BASE_DIR / "templates").rglob("*.html"))
# Modules that build HTML or SVG in Python (format_html).
MARKUP_MODULES = sorted(
    path
    for app in ("clinic", "patients", "exercises")
    for path in (BASE_DIR / app).rglob("*.py")
    if "migrations" not in path.parts
)

STYLE_ATTRIBUTE = re.compile(r"""<[a-zA-Z][^>]*\sstyle\s*=""")
EVENT_HANDLER = re.compile(r"""<[a-zA-Z][^>]*\son[a-z]+\s*=""")
HTMX_INLINE = re.compile(r"""\shx-on[:-]|\shx-vals\s*=\s*["']\s*js:|\shx-vars\s*=""")
JAVASCRIPT_URL = re.compile(r"""(?:href|action|src)\s*=\s*["']\s*javascript:""", re.I)
OPENING = re.compile(r"<(script|style)\b([^>]*)>", re.I)


def _relative(path: Path) -> str:
    return str(path.relative_to(BASE_DIR))


def test_there_are_templates_to_check():
    assert len(TEMPLATES) >= 10
    assert any(path.name == "base.html" for path in TEMPLATES)


@pytest.mark.parametrize("path", TEMPLATES + MARKUP_MODULES, ids=_relative)
def test_no_inline_style_attributes_or_event_handlers(path: Path):
    text = path.read_text()
    for pattern, what in (
        (STYLE_ATTRIBUTE, 'a style="" attribute (use a class in static/css)'),
        (EVENT_HANDLER, "an on* event handler (use a script file in static/js)"),
        (HTMX_INLINE, "htmx code in an attribute (hx-on, js: values: need eval)"),
        (JAVASCRIPT_URL, "a javascript: URL"),
    ):
        found = pattern.search(text)
        assert not found, f"{_relative(path)} has {what}: {found.group(0)!r}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_relative)
def test_every_inline_script_or_style_carries_the_nonce(path: Path):
    for element, attributes in OPENING.findall(path.read_text()):
        if element.lower() == "script" and re.search(r"\ssrc\s*=", attributes):
            continue
        assert 'nonce="{{ csp_nonce }}"' in attributes, (
            f'{_relative(path)}: inline <{element}{attributes}> without nonce="{{{{ csp_nonce }}}}"'
        )
