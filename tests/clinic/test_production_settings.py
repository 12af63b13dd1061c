"""Production settings: HTTPS-only with DEBUG off, no insecure default, and the headers each response
carries (docs/security.md, "Production settings and headers").

The settings module is executed afresh with a production environment (`load_settings`), so
these tests read what a real deployment gets, not the test settings. The headers are then checked
in-process with those values; `manage.py check --deploy` and the refusals run as subprocesses,
exactly as an operator would run them.
"""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]
SETTINGS_FILE = BASE_DIR / "clinic" / "settings.py"

# Every variable these settings read for security: cleared so the developer's shell cannot leak in.
SECURITY_ENV = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
    "CACHE_URL",
]
# The settings the header tests copy from a production run of the settings module.
HEADER_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SECURE_CSP",
]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "clinic.example.org",
}


@pytest.fixture
def load_settings(monkeypatch):
    """Run clinic/settings.py with exactly the given environment; return its module namespace."""

    def load(**env: str) -> dict:
        for name in SECURITY_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # A developer's .env must not change what these tests see.
        monkeypatch.setattr(environ.Env, "read_env", classmethod(lambda cls, *a, **k: None))
        return runpy.run_path(str(SETTINGS_FILE))

    return load


@pytest.fixture
def production(load_settings) -> dict:
    return load_settings(**PRODUCTION)


def _env(**values: str) -> dict[str, str]:
    """The environment for a `manage.py` subprocess: the real settings module, nothing inherited
    that these tests set themselves."""
    env = {k: v for k, v in os.environ.items() if k not in SECURITY_ENV}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # Set for the browser tests in this same process (tests/browser/conftest.py); a deployment
    # must not have it, and `check --deploy` says so.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return {**env, **values}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- The settings module itself --------------------------------------------------------------------


def test_production_defaults_to_https_only(production):
    assert production["DEBUG"] is False
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_HSTS_SECONDS"] == 31_536_000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] is None
    assert production["CSRF_TRUSTED_ORIGINS"] == []


def test_preload_is_opt_in_and_only_its_warning_is_silenced(load_settings):
    off = load_settings(**PRODUCTION)
    assert off["SECURE_HSTS_PRELOAD"] is False
    assert "security.W021" in off["SILENCED_SYSTEM_CHECKS"]

    on = load_settings(**PRODUCTION, SECURE_HSTS_PRELOAD="true")
    assert on["SECURE_HSTS_PRELOAD"] is True
    assert "security.W021" not in on.get("SILENCED_SYSTEM_CHECKS", [])


def test_development_keeps_plain_http_working(load_settings):
    development = load_settings()
    assert development["DEBUG"] is True
    assert development["SECURE_SSL_REDIRECT"] is False
    assert development["SESSION_COOKIE_SECURE"] is False
    assert development["CSRF_COOKIE_SECURE"] is False
    assert development["SECURE_HSTS_SECONDS"] == 0
    # The CSP is the same in development: a violation shows up before it ships.
    assert development["SECURE_CSP"] == load_settings(**PRODUCTION)["SECURE_CSP"]


def test_a_loopback_load_test_can_turn_the_redirect_off(load_settings):
    values = load_settings(**PRODUCTION, SECURE_SSL_REDIRECT="false")
    assert values["SECURE_SSL_REDIRECT"] is False
    # Everything else stays production.
    assert values["SESSION_COOKIE_SECURE"] is True


def test_the_proxy_header_is_trusted_only_when_configured(load_settings):
    values = load_settings(
        **PRODUCTION,
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CSRF_TRUSTED_ORIGINS="https://clinic.example.org",
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://clinic.example.org"]


def test_a_malformed_proxy_header_stops_the_app(load_settings):
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER must be"):
        load_settings(**PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_it_refuses_to_load_without_a_secret_key_or_hosts(load_settings, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ImproperlyConfigured, match=f"{missing} must be set when DEBUG is off"):
        load_settings(**env)


def test_the_cache_is_per_process_by_default_and_shared_when_configured(load_settings):
    default = load_settings()["CACHES"]["default"]
    assert default["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"

    shared = load_settings(**PRODUCTION, CACHE_URL="dbcache://django_cache")["CACHES"]["default"]
    assert shared["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert shared["LOCATION"] == "django_cache"


# --- As an operator runs it ------------------------------------------------------------------------


def test_check_deploy_passes_with_production_settings():
    result = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_the_app_refuses_to_start_without_a_secret_key_or_hosts(missing):
    env = {**PRODUCTION, missing: ""}
    result = _run("manage.py", "check", **env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} must be set when DEBUG is off." in result.stderr


def test_make_serve_refuses_development_settings_in_one_line():
    result = _run("-m", "clinic.serving.preflight", DEBUG="true")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "ERROR: DEBUG is on: set DEBUG=false, SECRET_KEY and ALLOWED_HOSTS. "
        "make serve runs the production server; see docs/deploy.md (development: make run)."
    )


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        (
            {"SECRET_KEY": "dev-only-not-secret-clamshell-clinic"},
            "SECRET_KEY is the development key",
        ),
        ({"SECRET_KEY": "short-but-not-empty"}, "SECRET_KEY is the development key or too weak"),
        ({"SECRET_KEY": "a" * 60}, "too weak"),
        ({"CACHE_URL": None}, "CACHE_URL is not set"),
    ],
    ids=["development key", "short key", "one repeated character", "no shared cache"],
)
def test_make_serve_refuses_a_weak_key_or_a_per_process_cache(env, reason):
    # check --deploy only warns of a weak key, and cannot know that gunicorn runs several workers.
    chosen = {**PRODUCTION, "CACHE_URL": "dbcache://django_cache", **env}
    result = _run(
        "-m", "clinic.serving.preflight", **{k: v for k, v in chosen.items() if v is not None}
    )
    assert result.returncode == 1
    assert reason in result.stderr


def test_make_serve_accepts_production_settings():
    result = _run(
        "-m", "clinic.serving.preflight", **PRODUCTION, CACHE_URL="dbcache://django_cache"
    )
    assert result.returncode == 0, result.stderr


# --- The headers, with the production values -------------------------------------------------------


@pytest.fixture
def production_headers(settings, production) -> None:
    for name in HEADER_SETTINGS:
        setattr(settings, name, production[name])


def test_plain_http_is_redirected_to_https(client, production_headers):
    response = client.get(reverse("login"))
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_https_responses_carry_hsts_and_the_policies(client, production_headers):
    response = client.get(reverse("login"), secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in directives}


def test_the_csp_is_strict(client, production_headers):
    csp = _csp(client.get(reverse("login"), secure=True))
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["img-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert csp[directive][0] == "'self'"
        assert re.fullmatch(r"'nonce-[\w-]+'", csp[directive][1])
        # Nothing that would let an injected inline script or style run.
        assert not {"'unsafe-inline'", "'unsafe-eval'", "data:", "*"} & set(csp[directive])


def test_the_nonce_is_new_on_every_response_and_matches_the_pages_scripts(
    client, production_headers
):
    nonces = []
    for _ in range(2):
        response = client.get(reverse("login"), secure=True)
        nonce = re.fullmatch(r"'nonce-([\w-]+)'", _csp(response)["script-src"][1]).group(1)
        scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
        assert scripts, "the sign-in page loads htmx"
        assert all(f'nonce="{nonce}"' in tag for tag in scripts), scripts
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert len(nonces[0]) >= 16


def test_cookies_are_secure_http_only_and_same_site(client, production_headers, therapist):
    response = client.post(
        reverse("login"), {"username": "thera", "password": PASSWORD}, secure=True
    )
    assert response.status_code == 302
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name]
        assert cookie["secure"] is True, name
        assert cookie["httponly"] is True, name
        assert cookie["samesite"] == "Lax", name


def test_the_api_docs_page_alone_also_allows_data_images_and_its_inline_code_has_the_nonce(
    client, production_headers
):
    response = client.get("/api/docs/", secure=True)
    assert response.status_code == 200
    csp = _csp(response)
    assert csp["img-src"] == ["'self'", "data:"]
    nonce = re.fullmatch(r"'nonce-([\w-]+)'", csp["script-src"][1]).group(1)
    html = response.content.decode()
    inline = re.findall(r"<(?:script|style)\b(?![^>]*\bsrc=)[^>]*>", html)
    assert len(inline) == 2, inline  # Swagger UI's settings script and its small stylesheet
    assert all(f'nonce="{nonce}"' in tag for tag in inline), inline
    # Everything else keeps the strict policy.
    assert _csp(client.get("/api/schema/", secure=True))["img-src"] == ["'self'"]
