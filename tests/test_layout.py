"""The layout of docs/architecture.md holds: the import contracts fail on a back-edge, and no
module of clinic/ outgrows the size the layout allows.

The contracts are checked by `make lint` (import-linter, configured in pyproject.toml). These tests
prove the check bites: a scratch copy of the code with one forbidden import added must fail it,
and the unchanged copy must pass.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# The bench's network generator is the one module allowed to be long: one table of generated
# data per function, read top to bottom.
LONG_ALLOWED = {"clinic/bench/generate.py"}
MODULE_LIMIT = 400


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The three packages and pyproject.toml, copied."""
    for package in ("clinic", "patients", "exercises"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
    )


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # noqa\n")


def test_the_unchanged_code_keeps_every_contract(scratch: Path) -> None:
    result = lint_imports(scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("patients/services.py", "import exercises.models", "patients <- exercises <- clinic"),
        ("exercises/services.py", "import clinic.forms", "patients <- exercises <- clinic"),
        (
            "clinic/caseload/views.py",
            "import clinic.patient_page.views",
            "clinic.caseload does not import another feature's views",
        ),
    ],
    ids=["patients-imports-exercises", "exercises-imports-clinic", "feature-imports-views"],
)
def test_a_back_edge_breaks_a_contract(
    scratch: Path, module: str, line: str, contract: str
) -> None:
    add_import(scratch / module, line)
    result = lint_imports(scratch)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout


def test_no_module_of_clinic_is_over_the_limit() -> None:
    over = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "clinic").rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MODULE_LIMIT
        and str(path.relative_to(ROOT)) not in LONG_ALLOWED
        and "migrations" not in path.parts
    }
    assert over == {}, f"split these modules (docs/architecture.md): {over}"


def test_the_architecture_picture_is_drawn_from_the_code_as_it_is() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "architecture.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
