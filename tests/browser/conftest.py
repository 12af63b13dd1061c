"""Browser tests: pytest-playwright driving Debian's Chromium against pytest-django's live server.

- Chromium comes from the system (`apt-get install chromium`, /usr/bin/chromium); Playwright's own
  browser download cannot work on a closed network. Missing locally: the tests skip and say why. In
  CI (`CI` set) they fail instead, so a broken image never passes by silently skipping them.
- Every request the browser makes is recorded; a test fails if one goes anywhere but the live
  server (no CDN, no fonts or analytics from elsewhere).
- Each test writes screenshots of the pages it visits to tests/browser/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from playwright.sync_api import BrowserContext, Page, Response, expect

from exercises.models import Stage
from tests.factories import PASSWORD, reseed_ladder

# Playwright's sync API runs an event loop in the test thread; Django then refuses ORM calls from
# it (SynchronousOnlyOperation), test data set-up and the transactional flush included. The loop
# lives for the whole session once the browser starts, so this is set at import, not per test.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).parent / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Quick failures: a live server on loopback answers in milliseconds.
TIMEOUT_MS = 5_000


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        message = (
            f"Chromium not found at {CHROMIUM}: install it with "
            f"`apt-get update && apt-get install -y chromium` (or set CHROMIUM=/path/to/chromium)."
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message} CI must run the browser tests, not skip them.", pytrace=False)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--headless",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "locale": "en-GB", "timezone_id": "Europe/London"}


@pytest.fixture(autouse=True)
def ladder(reseed_after_flush, transactional_db) -> None:
    """The seeded ladder, present at the start of every browser test.

    A transactional test ends by flushing every table, the migration's seed included, and with the
    `django_db` marker or `live_server` the database fixture is set up before any fixture the test
    asks for, so it is torn down (flushed) *after* them: `reseed_after_flush` alone would reseed
    and then be flushed. Hence: seed here if a previous transactional test left no ladder, and
    reseed after the flush in `pytest_runtest_teardown` below.
    """
    if not Stage.objects.exists():
        reseed_ladder()


_BLOCKER = pytest.StashKey[object]()


@pytest.fixture(autouse=True)
def _remember_blocker(request: pytest.FixtureRequest, django_db_blocker) -> None:
    request.node.stash[_BLOCKER] = django_db_blocker


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Function fixtures (the flush included) are finalised inside this hook: reseed after them, so
    # later transactional tests anywhere in the suite find the ladder again.
    try:
        return (yield)
    finally:
        blocker = item.stash.get(_BLOCKER, None)
        # Not after the last test: the session's fixtures, the test database included, are gone
        # by then, and the connection points at the real database again.
        if blocker is not None and nextitem is not None:
            with blocker.unblock():
                if not Stage.objects.exists():
                    reseed_ladder()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_opened_in_playwrights_loop(playwright, django_db_blocker) -> Iterator[None]:
    """Close the database connections the main thread opened while Playwright's loop ran.

    Django keeps connections per thread, but per *context* while an event loop runs in the thread
    (asgiref's Local), and Playwright's sync API runs one in the main thread from the first browser
    test to the end of the session. So from then on the main thread has a second connection, which
    the test-database teardown (after Playwright stops) never sees: PostgreSQL then refuses to drop
    the test database ("being accessed by other users"). Set up after `playwright`, this is torn
    down before it, while that loop still runs.
    """
    yield
    with django_db_blocker.unblock():
        connections.close_all()


class Recorder:
    """Every URL the browser asked for, and every answer that went wrong, across its contexts."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.failures: list[str] = []

    def attach(self, context: BrowserContext) -> None:
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("response", self._check)

    def _check(self, response: Response) -> None:
        # 4xx/5xx on a page, a stylesheet or a script is a bug; the browser never asks for
        # anything that should not exist (a favicon is declared in base.html).
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.request.method} {response.url}")

    def foreign(self, live_server_url: str) -> list[str]:
        own = urlsplit(live_server_url).netloc
        return [
            url
            for url in self.urls
            if not url.startswith(("data:", "blob:", "about:")) and urlsplit(url).netloc != own
        ]


@pytest.fixture
def requests_made(live_server) -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    foreign = recorder.foreign(live_server.url)
    assert not foreign, f"the browser requested other hosts than the live server: {foreign}"
    assert recorder.urls, "no request was recorded"
    assert not recorder.failures, f"error responses: {recorder.failures}"


@pytest.fixture
def open_context(new_context, requests_made: Recorder) -> Callable[..., BrowserContext]:
    """A new browser context (a separate person's browser) whose requests are recorded."""

    def make(*, viewport: dict = DESKTOP, **kwargs) -> BrowserContext:
        context = new_context(viewport=viewport, **kwargs)
        context.set_default_timeout(TIMEOUT_MS)
        requests_made.attach(context)
        return context

    return make


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Screenshot a page to tests/browser/screenshots/<test>--<nn>-<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    for old in SCREENSHOTS.glob(f"{test}--*.png"):
        old.unlink()
    count = 0

    def take(page: Page, name: str) -> Path:
        nonlocal count
        count += 1
        path = SCREENSHOTS / f"{test}--{count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True, type="png")
        return path

    return take


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    expect(page).to_have_title(re.compile("Sign in"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
