"""What every chart's SVG shares: a picture (`role="img"`) named by its <title> and described by its
<desc>, so a screen reader says in words what it shows (`aria-labelledby` points at both).
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def titled_svg(
    css_class: str,
    element_id: str,
    size: tuple[int, int],
    title: str,
    description: str,
    body: SafeString,
    *,
    keep_aspect: bool = False,
) -> SafeString:
    """`body` in an SVG of `size` (width, height) units. `keep_aspect` writes out
    `preserveAspectRatio="xMidYMid meet"` (the browsers' default: the drawing keeps its proportions,
    centred), which the progression chart's markup has always carried."""
    return format_html(
        '<svg class="{css_class}" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc"{aspect}>'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        "{body}</svg>",
        css_class=css_class,
        id=element_id,
        w=size[0],
        h=size[1],
        aspect=format_html(' preserveAspectRatio="{}"', "xMidYMid meet") if keep_aspect else "",
        title=title,
        desc=description,
        body=body,
    )
