"""`make serve` serves: the real Makefile target (preflight, check --deploy, migrate, createcachetable,
collectstatic, gunicorn + whitenoise) started once with a production environment on a free loopback
port, against a fresh SQLite file and static root of its own (docs/deploy.md). A second app server
(gunicorn with the same configuration, as `make serve MIGRATE=no` ends) shares its database, to
prove that the throttles count across app servers through the shared cache.

Loopback is where a TLS proxy on the same host talks to gunicorn, and gunicorn trusts that proxy's
X-Forwarded-Proto by default (FORWARDED_ALLOW_IPS): so these requests see exactly what a browser
behind the proxy sees, HTTPS redirect and HSTS included.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
# Left out of the servers' environment: the test settings module, a developer's overrides of the
# production defaults, the browser tests' async switch (tests/browser/conftest.py sets it in this
# process; `check --deploy` rightly refuses it), and an outer make's flags (`make test` runs this).
INHERITED_NOT = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "FORWARDED_ALLOW_IPS",
    "NUM_PROXIES",
    "MIGRATE",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
}
SIGN_IN_LIMIT = 4


@dataclass
class Served:
    port: int
    log: Path
    database: Path
    second_port: int = 0

    def get(self, path: str, *, https: bool = True) -> http.client.HTTPResponse:
        return self.request("GET", path, https=https)

    def request(
        self, method: str, path: str, *, https: bool = True, body: str | None = None, port: int = 0
    ) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        # What the TLS proxy in front adds to every request it forwards.
        headers = {"Host": "clinic.example.org"} | ({"X-Forwarded-Proto": "https"} if https else {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]  # kept for the assertions
        connection.close()
        return response


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    # The process, and gunicorn with its workers, run in the session started for it.
    with contextlib.suppress(ProcessLookupError):  # the whole group has gone already
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    port = _free_port()
    served = Served(port=port, log=root / "serve.log", database=root / "db.sqlite3")
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_NOT}
    env |= {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "clinic.example.org",
        "DATABASE_URL": f"sqlite:///{served.database}",
        "CACHE_URL": "dbcache://django_cache",
        "STATIC_ROOT": str(root / "static"),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        # Low enough to reach in a test, per username across every app server.
        "THROTTLE_SIGN_IN_USERNAME": f"{SIGN_IN_LIMIT}/min",
        "THROTTLE_SIGN_IN_ADDRESS": "100/min",
    }
    processes: list[subprocess.Popen] = []
    try:
        with served.log.open("w") as log:
            # -o: use the existing .venv as it is; this test is about serving, not installing.
            processes.append(
                subprocess.Popen(
                    ["make", "--no-print-directory", "-o", ".venv/.installed", "serve"],
                    cwd=BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait(processes[0], port, served.log)

        # The second app server: migrated and collected already, so gunicorn alone.
        served.second_port = _free_port()
        second_log = root / "second.log"
        with second_log.open("w") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "gunicorn"),
                        "--config",
                        "python:clinic.serving.gunicorn_conf",
                    ],
                    cwd=BASE_DIR,
                    env=env | {"BIND": f"127.0.0.1:{served.second_port}"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait(processes[1], served.second_port, second_log)
        yield served
    finally:
        for process in processes:
            _stop(process)


def test_plain_http_is_redirected_to_https(served):
    response = served.get("/accounts/login/", https=False)
    assert response.status == 301
    assert response.headers["Location"] == "https://clinic.example.org/accounts/login/"


def test_the_sign_in_page_is_served_with_the_production_headers(served):
    response = served.get("/accounts/login/")
    assert response.status == 200
    assert b"Sign in" in response.body
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "'nonce-" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie


def test_static_files_are_served_by_whitenoise_with_far_future_caching(served):
    page = served.get("/accounts/login/").body.decode()
    # The manifest storage names each file by its content, so it can be cached for good.
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1)
    response = served.get(stylesheet)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_access_log_leaves_out_query_strings(served):
    served.get("/accounts/login/?next=/reports/%3Fq%3DLindqvist")
    deadline = time.monotonic() + 5
    while "/accounts/login/ HTTP" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = served.log.read_text()
    assert '"GET /accounts/login/ HTTP/1.1" 200' in log
    assert "Lindqvist" not in log


def test_the_shared_cache_table_was_created(served):
    with sqlite3.connect(served.database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "django_cache" in tables
    assert "exercises_stage" in tables  # and the migrations ran


def test_app_servers_share_the_sign_in_throttle_through_the_cache(served):
    """Per-process memory would give each server its own count, multiplying the limit."""
    guess = '{"username": "nobody", "password": "guess"}'
    ports = [served.port, served.second_port] * SIGN_IN_LIMIT
    statuses = [
        served.request("POST", "/api/v1/auth/token/", body=guess, port=port).status
        for port in ports[: SIGN_IN_LIMIT + 1]
    ]
    assert 429 not in statuses[:SIGN_IN_LIMIT], statuses
    assert statuses[SIGN_IN_LIMIT] == 429, statuses
