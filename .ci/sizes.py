"""Sizes that the layout rules of docs/architecture.md keep small: the longest function of each
package and the modules over a line limit.

    python .ci/sizes.py [--limit 400] [--top 1]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOTS = ("clinic", "patients", "exercises")


def functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found.append((node.end_lineno - first + 1, f"{path}:{node.lineno} {node.name}"))
    return found


def package_of(path: Path) -> str:
    return str(path.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400, help="module line limit")
    parser.add_argument("--top", type=int, default=1, help="functions listed per package")
    args = parser.parse_args()
    by_package: dict[str, list[tuple[int, str]]] = {}
    over = []
    for root in ROOTS:
        for path in sorted(Path(root).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            by_package.setdefault(package_of(path), []).extend(functions(path))
            lines = len(path.read_text().splitlines())
            if lines > args.limit:
                over.append((lines, str(path)))
    print("Longest functions per package (lines, decorators included):")
    for package, found in sorted(by_package.items()):
        for lines, where in sorted(found, reverse=True)[: args.top]:
            print(f"  {package:28} {lines:4}  {where}")
    print(f"Modules over {args.limit} lines:")
    for lines, path in sorted(over, reverse=True):
        print(f"  {lines:5}  {path}")


if __name__ == "__main__":
    main()
