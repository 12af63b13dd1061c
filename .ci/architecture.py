"""Draw docs/img/architecture.svg from the code: the apps and clinic/'s feature packages, and an
arrow for every package that imports another (importer → imported).

    python .ci/architecture.py [--check]

The import graph comes from grimp (import-linter's engine), so the picture is the same graph the
import contracts check. `--check` exits 1 when the committed picture is out of date.
"""

from __future__ import annotations

import argparse
import sys
from html import escape
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "architecture.svg"

# Rows, top to bottom: imports point down (or sideways within a row), never up.
ROWS: list[tuple[str, list[str]]] = [
    ("clinic/: entry points", ["clinic", "clinic.management", "clinic.bench"]),
    (
        "clinic/: screens, one package per feature",
        [
            "clinic.accounts",
            "clinic.caseload",
            "clinic.patient_page",
            "clinic.my_exercises",
            "clinic.reports",
            "clinic.audit",
            "clinic.sources",
            "clinic.serving",
        ],
    ),
    ("clinic/: shared by the screens", ["clinic.forms", "clinic.charts", "clinic.data"]),
    ("domain: the exercise ladder", ["exercises.api", "exercises"]),
    ("domain: patients and clearance", ["patients"]),
]
NOTES = {
    "clinic": "settings, urls",
    "clinic.forms": "form helpers",
    "clinic.accounts": "sign-in, role start pages",
    "clinic.caseload": "the dashboard",
    "clinic.patient_page": "patient page, actions, create/edit",
    "clinic.my_exercises": "/me/",
    "clinic.reports": "clinic and patient reports, CSV",
    "clinic.audit": "history, access log",
    "clinic.sources": "the clinical sources page",
    "clinic.serving": "middleware, errors, gunicorn",
    "clinic.charts": "server-drawn SVG charts",
    "clinic.data": "demo data, export/import",
    "clinic.bench": "make bench",
    "clinic.management": "manage.py commands",
    "exercises": "ladder, prescriptions, sets, rules",
    "exercises.api": "REST API, FHIR",
    "patients": "patients, clearance, access",
}
BOX_W, BOX_H, GAP_X, ROW_GAP, MARGIN, LABEL_H = 168, 46, 18, 64, 20, 18


def group_of(module: str) -> str | None:
    """The box a module belongs to; migrations are left out (they are the models' history)."""
    parts = module.split(".")
    if "migrations" in parts:
        return None
    if parts[0] == "exercises":
        return "exercises.api" if parts[1:2] == ["api"] else "exercises"
    if parts[0] == "patients":
        return "patients"
    candidate = ".".join(parts[:2])
    known = {name for _, row in ROWS for name in row}
    return candidate if candidate in known else "clinic"


def title(name: str) -> str:
    return "clinic/forms.py" if name == "clinic.forms" else name.replace(".", "/") + "/"


def edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph("clinic", "patients", "exercises")
    found = set()
    for module in graph.modules:
        source = group_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = group_of(imported)
            if source and target and source != target:
                found.add((source, target))
    return found


def layout() -> dict[str, tuple[float, float]]:
    widest = max(len(row) for _, row in ROWS)
    width = widest * (BOX_W + GAP_X) - GAP_X
    places = {}
    for r, (_, row) in enumerate(ROWS):
        row_w = len(row) * (BOX_W + GAP_X) - GAP_X
        x0 = MARGIN + (width - row_w) / 2
        y = MARGIN + LABEL_H + r * (BOX_H + ROW_GAP + LABEL_H)
        for i, name in enumerate(row):
            places[name] = (x0 + i * (BOX_W + GAP_X), y)
    return places


def draw(found: set[tuple[str, str]]) -> str:
    places = layout()
    widest = max(len(row) for _, row in ROWS)
    width = 2 * MARGIN + widest * (BOX_W + GAP_X) - GAP_X
    height = 2 * MARGIN + len(ROWS) * (BOX_H + ROW_GAP + LABEL_H) - ROW_GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
        f'width="{width}" height="{height:.0f}" font-family="sans-serif" font-size="12" '
        'role="img" aria-labelledby="t">',
        "<title id='t'>The packages of the clamshell clinic and their imports</title>",
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555"/>'
        "</marker></defs>",
        f'<rect width="{width}" height="{height:.0f}" fill="#fff"/>',
    ]
    for r, (label, _) in enumerate(ROWS):
        y = MARGIN + r * (BOX_H + ROW_GAP + LABEL_H) + 12
        out.append(f'<text x="{MARGIN}" y="{y}" fill="#666">{escape(label)}</text>')
    for source, target in sorted(found):
        (sx, sy), (tx, ty) = places[source], places[target]
        start = (sx + BOX_W / 2, sy + BOX_H)
        end = (tx + BOX_W / 2, ty)
        if sy == ty:  # within a row: from the side, arching below the boxes
            start, end = (sx + BOX_W / 2, sy + BOX_H), (tx + BOX_W / 2, ty + BOX_H)
            bend = sy + BOX_H + 28
            path = f"M{start[0]:.0f},{start[1]:.0f} C{start[0]:.0f},{bend} {end[0]:.0f},{bend} {end[0]:.0f},{end[1]:.0f}"
        else:
            mid = (start[1] + end[1]) / 2
            path = f"M{start[0]:.0f},{start[1]:.0f} C{start[0]:.0f},{mid:.0f} {end[0]:.0f},{mid:.0f} {end[0]:.0f},{end[1]:.0f}"
        out.append(
            f'<path d="{path}" fill="none" stroke="#888" stroke-opacity=".55" '
            f'marker-end="url(#a)"><title>{source} imports {target}</title></path>'
        )
    for name, (x, y) in places.items():
        fill = "#e8f0fb" if name.startswith("clinic") else "#eaf6ea"
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="#445"/>'
        )
        out.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 19:.0f}" text-anchor="middle" '
            f'font-weight="bold">{escape(title(name))}</text>'
        )
        out.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 35:.0f}" text-anchor="middle" '
            f'font-size="10.5" fill="#333">{escape(NOTES.get(name, ""))}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the picture is stale")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    svg = draw(edges())
    if args.check:
        if not OUT.exists() or OUT.read_text() != svg:
            print(f"{OUT.relative_to(ROOT)} is out of date: run `make architecture`.")
            return 1
        return 0
    OUT.write_text(svg)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
