"""Settings for the clamshell clinic, read from the environment.

The embedded default needs nothing: SQLite next to manage.py, DEBUG on, a development secret key.
Production sets DATABASE_URL (PostgreSQL), DEBUG=false, SECRET_KEY and ALLOWED_HOSTS; with DEBUG off a
missing secret key or host list stops the app at start-up instead of running with an insecure default.
"""

import datetime as dt
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

# `ModelAdmin[Patient]`, `ModelForm[Patient]`: the generic classes that the type checker wants
# parametrized accept a type parameter at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is optional; the environment itself always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-not-secret-clamshell-clinic"
SECRET_KEY: str = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "simple_history",
    # Sign-in lockout per username and per address; its admin lists and lifts locks.
    "axes",
    "patients",
    "exercises",
    "clinic",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (SECURE_CSP below), with a fresh nonce per response.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # `Cache-Control: no-store` on a signed-in session's pages and CSVs, `Clear-Site-Data` on the
    # answer that ends a session (before the expiry below, so it sees the sessions that ends).
    "clinic.serving.browser_data.BrowserDataMiddleware",
    # Idle and working-day session expiry (after auth, messages and htmx, which it uses).
    "clinic.serving.middleware.SessionTimeoutMiddleware",
    # Records the signed-in user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as axes requires: turns a locked-out sign-in into its answer (AXES_LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                # `csp_nonce` for the few <script>/<style> elements that must be inline.
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # `numbers`: the definitions of patients/thresholds.py (window days, bands).
                "patients.thresholds.template_context",
            ],
        },
    },
]

WSGI_APPLICATION = "clinic.wsgi.application"
ASGI_APPLICATION = "clinic.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Short transactions and many small writes: keep PostgreSQL connections open between requests.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers writing one SQLite file: without these, a write that upgrades a read
    # lock fails at once with "database is locked". IMMEDIATE takes the write lock at BEGIN, so a
    # writer waits (up to `timeout` seconds) instead; WAL lets readers run while one writes.
    # synchronous=NORMAL drops the fsync per commit: in WAL mode a power cut may lose the last
    # commits but never corrupts the file (SQLite is the embedded setup; production is PostgreSQL).
    # Options given in DATABASE_URL (e.g. ?timeout=5) win.
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
    _sqlite_options.setdefault("timeout", 20)
    _sqlite_options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")

# Throttle counters (sign-in, writes) live in the cache. Per-process memory is right for one
# process; several gunicorn workers or app servers must share one cache, or each keeps its own
# count and a limit multiplies by their number: CACHE_URL=dbcache://django_cache (a table in
# PostgreSQL; `make serve` creates it) or a Redis URL. See docs/deploy.md.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Sign-in defences (docs/security.md lists each with the test that proves it) ---
# One rule for every account, patients included: length over composition rules, and no password
# from the common-passwords list. Twelve characters is three short words ("pink kettle lamp"),
# which a therapist can hand over on paper and a patient can type on a phone; the lockout below
# bounds online guessing.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The lockout first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "patients.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout: AXES_FAILURE_LIMIT failed sign-ins (web page, admin or token endpoint) for one username,
# or from one address, within the cool-off lock that username, or that address, for the cool-off.
# Separate parameters: either count locks. One limit serves both, so it is set with a clinic's
# shared address in mind (a whole front desk behind one NAT address); the sign-in throttles in
# REST_FRAMEWORK below still cap the rate per minute.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Axes masks both in its log lines by default; the address is what investigating an attack needs,
# and the username (often the patient's name) is masked here and by clinic.serving.log_filters.
AXES_SENSITIVE_PARAMETERS = ["username"]
AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# Attempts while locked are refused without being counted: retrying does not push the end back.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not reset on success: the reset would delete every failure from the signing-in address too, so
# someone with a login of their own could wipe the count of their guesses at another account.
AXES_RESET_ON_SUCCESS = False
# The same client address as the throttles (NUM_PROXIES); the answers in the web page's and the
# API's own shapes, with when to retry and who unlocks.
AXES_CLIENT_IP_CALLABLE = "patients.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "clinic.accounts.views.lockout_response"

# Web sessions end after a working day, or after SESSION_IDLE_TIMEOUT seconds without a request
# (a shared clinic computer left signed in): clinic.serving.middleware.SessionTimeoutMiddleware.
SESSION_COOKIE_AGE: int = env.int("SESSION_COOKIE_AGE", default=10 * 60 * 60)
SESSION_IDLE_TIMEOUT: int = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
# The last-seen time is written at most this often (seconds), not on every request.
SESSION_ACTIVITY_RESOLUTION: int = env.int("SESSION_ACTIVITY_RESOLUTION", default=60)
# Zero or less would lock everyone out at their first typo, or sign everyone out at once.
for _variable, _value in {
    "AXES_FAILURE_LIMIT": AXES_FAILURE_LIMIT,
    "AXES_COOLOFF_MINUTES": AXES_COOLOFF_TIME.total_seconds(),
    "SESSION_COOKIE_AGE": SESSION_COOKIE_AGE,
    "SESSION_IDLE_TIMEOUT": SESSION_IDLE_TIMEOUT,
}.items():
    if _value <= 0:
        raise ImproperlyConfigured(f"{_variable} must be a positive number.")

LOGIN_URL = "login"
# One landing URL that sends each role to its own start page (clinic.accounts.views.home).
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Stored times are UTC; "a day" is always counted in the clinic's own zone (Clinic.timezone).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded clinical documents (the scanned copy of a clearance sign-off). Never under STATIC_ROOT
# and never given a URL: `clinic.patient_page.views.clearance_document` serves each to the patient's care team
# only, and records who opened it. Back this folder up with the database (docs/backups.md).
PRIVATE_FILES_ROOT = env.path("PRIVATE_FILES_ROOT", default=BASE_DIR / "private-files")
# A clinic export carries a signature (clinic/data/backup/file_format.py); both servers of a move
# share this key.
EXPORT_SIGNING_KEY: str = env.str("EXPORT_SIGNING_KEY", default="") or SECRET_KEY
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_FILES_ROOT)},
    },
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# --- Transport security and headers (docs/security.md lists each with the test that proves it) ---
# With DEBUG off everything defaults to HTTPS-only; each value can be overridden from the
# environment (a loopback load test runs gunicorn over plain http with SECURE_SSL_REDIRECT=false).
# In development (`make run`) plain http keeps working: no redirect, no secure-only cookies, no HSTS.
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# One year, as browsers' HSTS guidance asks; preload is a commitment to browser vendors' lists
# that is slow to undo, so it is opt-in only.
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # `check --deploy` warns when preload is off; off is the deliberate default (see above).
    SILENCED_SYSTEM_CHECKS = ["security.W021"]


def _proxy_ssl_header(value: list[str]) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https behind a TLS-terminating proxy.

    Off unless set: trusting the header on a server the internet reaches directly would let any
    client claim HTTPS. The proxy must overwrite the header on every request.
    """
    if not value:
        return None
    if len(value) != 2 or not value[0].startswith("HTTP_"):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be '<META name>,<value>', e.g. "
            f"'HTTP_X_FORWARDED_PROTO,https'; got {','.join(value)!r}."
        )
    return value[0], value[1]


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(env.list("SECURE_PROXY_SSL_HEADER", default=[]))
# Origins allowed to POST besides the site itself, e.g. https://clinic.example.org when a proxy
# rewrites the Host header. Scheme included, as Django requires.
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# No JavaScript reads either cookie: htmx sends the CSRF token from the page (hx-headers on <body>).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Lax: a link from an e-mail still arrives signed in; a cross-site POST never carries the cookies.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Patient record URLs carry ids: never send them to another site. Same-origin keeps the Referer that
# Django's CSRF check needs over HTTPS.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# No page is ever framed (clickjacking): both the legacy header and CSP frame-ancestors say so.
X_FRAME_OPTIONS = "DENY"

# A strict Content Security Policy, in development too (a violation shows up before it ships):
# only our own files; an inline <script> or <style> runs only with the response's nonce
# ({{ csp_nonce }}), and inline style="" attributes and on* handlers never do.
SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# The API docs page (Swagger UI) alone also needs data: images: its stylesheet draws icons as data:
# URIs. Applied to that one view in clinic/urls.py.
API_DOCS_CSP: dict[str, list[str]] = {**SECURE_CSP, "img-src": [CSP.SELF, "data:"]}

# The largest request body (the API's JSON, a web form's fields), answered 413 beyond it. Set to
# fit the largest valid request with room to spare: a batch of 200 sets whose notes are all 500
# emoji, \u-escaped as JSON writes them, is about 1.2 MB (tests/security/test_bodies.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call then answers 401 with WWW-Authenticate.
        "exercises.api.authentication.PatientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON parser with the body-size limit below and a 400 for absurd nesting.
    "DEFAULT_PARSER_CLASSES": ["exercises.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "exercises.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # Sign-in: per address and per username, against password guessing.
        "sign_in_address": env.str("THROTTLE_SIGN_IN_ADDRESS", default="20/min"),
        "sign_in_username": env.str("THROTTLE_SIGN_IN_USERNAME", default="10/min"),
        # Writes per patient: generous for a phone syncing a backlog, tight for a runaway loop.
        "writes": env.str("THROTTLE_WRITES", default="120/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clamshell clinic patient API",
    "DESCRIPTION": (
        "The API a patient's phone app uses to read the exercise plan and log sets, offline-safe: "
        "every set carries a client-chosen `client_id` (UUID), so a retry never stores a set twice."
        ' Every error has one shape: `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "exercises.api.schema.reject_unknown_fields",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    # No "validator" badge: Swagger UI would send the schema's address to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SideEnum": "patients.models.Side",
        "SideStatusEnum": "exercises.api.serializers.SIDE_STATUS_CHOICES",
        "BatchItemStatusEnum": "exercises.api.serializers.BATCH_STATUS_CHOICES",
        "PainBandEnum": "exercises.api.serializers.PAIN_BAND_CHOICES",
    },
}

# Audit history is a record, not an undo button: no "revert to this version" in the admin.
SIMPLE_HISTORY_REVERT_DISABLED = True

# No patient name or typed text in any log line (clinic/serving/log_filters.py; docs/security.md).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_usernames": {"()": "clinic.serving.log_filters.RedactUsernames"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_usernames"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # With DEBUG on, Django logs every SQL statement with its parameters (names, notes) at
        # DEBUG level: never written, whatever LOG_LEVEL says.
        "django.db.backends": {"level": "INFO"},
    },
}
