"""Regenerate the screenshots of docs/screens.md (docs/img/*.png) from the demo data.

    make screens
    .venv/bin/python tests/browser/make_screens.py                      # fresh demo DB and server
    .venv/bin/python tests/browser/make_screens.py --base-url http://127.0.0.1:8013   # a running demo

Without --base-url it builds a throw-away SQLite demo database (migrate + seed_demo), serves it on
a free loopback port, takes the pictures with Debian's Chromium and stops the server. Pictures are
PNGs of a modest viewport (clipped, never a whole long page), so each stays small in git; the
script fails if one grows past MAX_BYTES. Not a test: pytest does not collect it (no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "demo"
THERAPIST = "therapist1.riverside"
PATIENT = "amelia.clarke"  # Riverside's "ready to progress" demo patient
MAX_BYTES = 150_000
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Shot:
    name: str
    user: str | None
    width: int
    height: int
    go: Callable[[Page, str], None]
    mobile: bool = False


def _goto(path: str) -> Callable[[Page, str], None]:
    def go(page: Page, base: str) -> None:
        page.goto(base + path)

    return go


def _patient_page(page: Page, base: str) -> None:
    page.goto(f"{base}/dashboard/?alert=ready")
    page.get_by_role("link", name="Amelia Clarke").click()
    expect(page.get_by_role("heading", name="Amelia Clarke")).to_be_visible()


def _patient(name: str) -> Callable[[Page, str], None]:
    """A patient's page, opened from the whole clinic's caseload by name."""

    def go(page: Page, base: str) -> None:
        page.goto(f"{base}/dashboard/?who=clinic&q={name.split()[-1]}")
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name)).to_be_visible()

    return go


def _dashboard(page: Page, base: str) -> None:
    page.goto(f"{base}/dashboard/")
    expect(page.locator("table")).to_be_visible()


def _api_docs(page: Page, base: str) -> None:
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=10_000)


SHOTS = [
    Shot("sign-in", None, 720, 520, _goto("/accounts/login/")),
    Shot("dashboard", THERAPIST, 1280, 820, _dashboard),
    Shot("patient-page", THERAPIST, 1280, 1000, _patient_page),
    # A painful set waiting for review (the demo's "pain" story).
    Shot("patient-page-pain-alert", THERAPIST, 1280, 1000, _patient("Oliver Bennett")),
    # A posterior hip replacement: the clearance's precautions hold the side at stage 1.
    Shot("patient-page-precautions", THERAPIST, 1280, 1000, _patient("Grace Thornton")),
    Shot("sources", THERAPIST, 900, 640, _goto("/sources/")),
    Shot("my-exercises-phone", PATIENT, 390, 1400, _goto("/me/"), mobile=True),
    Shot("api-docs", PATIENT, 1100, 820, _api_docs),
    Shot("clinic-report", "staff.riverside", 1280, 1000, _goto("/reports/")),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


@contextmanager
def demo_server() -> Iterator[str]:
    """A fresh demo database, served on loopback until the block ends."""
    with tempfile.TemporaryDirectory(prefix="clamshell-screens-") as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/demo.sqlite3", "DEBUG": "true"}
        _manage("migrate", "-v0", env=env)
        _manage("seed_demo", "--password", PASSWORD, env=env)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{base}/accounts/login/")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def take(base: str) -> list[Path]:
    IMG.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for shot in SHOTS:
            context = browser.new_context(
                viewport={"width": shot.width, "height": shot.height},
                device_scale_factor=1,
                is_mobile=shot.mobile,
                has_touch=shot.mobile,
                locale="en-GB",
            )
            context.set_default_timeout(10_000)
            page = context.new_page()
            if shot.user:
                _sign_in(page, base, shot.user)
            shot.go(page, base)
            page.wait_for_load_state("networkidle")
            path = IMG / f"{shot.name}.png"
            # The viewport only: a fixed, modest size keeps every picture small and comparable.
            page.screenshot(path=str(path), type="png", full_page=False)
            context.close()
            size = path.stat().st_size
            print(f"{path.relative_to(ROOT)}: {shot.width}×{shot.height}, {size // 1024} KB")
            if size > MAX_BYTES:
                raise SystemExit(f"{path.name} is {size} bytes (> {MAX_BYTES}); shrink the shot.")
            written.append(path)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="use a demo server that is already running")
    args = parser.parse_args()
    if args.base_url:
        take(args.base_url.rstrip("/"))
        return
    with demo_server() as base:
        take(base)


if __name__ == "__main__":
    main()
