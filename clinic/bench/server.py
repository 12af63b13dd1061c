"""A gunicorn server on loopback for load and fault runs, configured as in production.

Used by the API load benchmark (`clinic.bench.api_load`) and the concurrent-write fault test
(`tests/faults/`): one way to start, wait for and stop the server.

The server gets production settings (`clinic.settings`, DEBUG off, `clinic/serving/gunicorn_conf.py`) with
what a loopback run needs: a throwaway SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, no HTTPS redirect (plain
http on 127.0.0.1), and write throttles raised so the run measures the app, not the limiter.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
HOST = "127.0.0.1"
# Answers 401 without a token and touches no table: a cheap "is it up?" probe.
PROBE_PATH = "/api/v1/auth/check/"
# Far above what a run sends: a throttle answering 429 would be measured instead of the app.
UNTHROTTLED = "1000000/min"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    workers: int
    database_url: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def database_url(db: dict[str, Any] | None = None) -> str:
    """The URL of a database in Django's settings (default: the current `default`), for a server
    process that must use the same database, e.g. a test database pytest-django created."""
    db = db or settings.DATABASES["default"]
    engine = db["ENGINE"]
    # OPTIONS travel as the query string, as DATABASE_URL carries them (e.g. SQLite's timeout).
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    if engine == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise ValueError("An in-memory SQLite database cannot be shared with a server process.")
        return f"sqlite:///{Path(name).resolve()}{query}"
    if engine == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        host = db.get("HOST") or "localhost"
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'])}{query}"
    raise ValueError(f"No URL form for the database engine {engine}.")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_env(database: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DATABASE_URL": database,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        # Plain http on loopback: production's HTTPS redirect would answer every request with 301.
        "SECURE_SSL_REDIRECT": "false",
        "THROTTLE_WRITES": UNTHROTTLED,
        "THROTTLE_SIGN_IN_ADDRESS": UNTHROTTLED,
        "THROTTLE_SIGN_IN_USERNAME": UNTHROTTLED,
        # The API renders no static files; the manifest storage would need collectstatic first.
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", PROBE_PATH)
        return connection.getresponse().status == 401
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def gunicorn(
    *,
    workers: int,
    database: str | None = None,
    start_timeout: float = 60,
    keep_log: bool = False,
    **env: str,
) -> Iterator[Server]:
    """Run gunicorn with `workers` sync workers on a free loopback port until the block ends.

    Waits until the app answers (a worker has loaded Django and reached the URL router); stops
    gracefully with SIGTERM, then SIGKILL if it lingers. The server's log is in `Server.log`; it is
    removed after a clean run unless `keep_log`.
    """
    database = database or database_url()
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:clinic.serving.gunicorn_conf",
        # The command line wins over the config file: loopback, a free port, the run's workers.
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--graceful-timeout",
        "10",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=server_env(database, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{_tail(log)}")
            time.sleep(0.2)
        yield Server(HOST, port, workers, database, log)
    except BaseException:
        stop(process)
        raise  # the log stays for a look at what went wrong
    stop(process)
    if not keep_log:
        log.unlink(missing_ok=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
