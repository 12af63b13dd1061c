"""`make serve`'s first step: refuse, in one clear line, to start production on development settings.

    python -m clinic.serving.preflight

The settings already stop on a missing SECRET_KEY or ALLOWED_HOSTS when DEBUG is off; this turns
that into a message instead of a traceback, and also refuses what `check --deploy` only warns of
or cannot see: DEBUG on (tracebacks served to the internet), a secret key that is public or weak
(it signs sessions), and a per-process cache under several gunicorn workers (each worker would
count the sign-in and write limits on its own, multiplying them).
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

HINT = "make serve runs the production server; see docs/deploy.md (development: make run)."


def problem() -> str | None:
    """What stops these settings from serving production, or None when nothing does."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    from django.conf import settings

    try:
        debug = settings.DEBUG
    except ImproperlyConfigured as error:
        return str(error)
    if debug:
        return "DEBUG is on: set DEBUG=false, SECRET_KEY and ALLOWED_HOSTS."
    from clinic.settings import _DEV_SECRET_KEY

    key = settings.SECRET_KEY
    if key == _DEV_SECRET_KEY or len(key) < 50 or len(set(key)) < 5:
        return (
            "SECRET_KEY is the development key or too weak: set a random one of 50 characters or "
            "more, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache") and "CACHE_URL" not in os.environ:
        return (
            "CACHE_URL is not set: the sign-in and write limits need a cache shared by every "
            "worker, e.g. CACHE_URL=dbcache://django_cache (make serve creates the table)."
        )
    return None


def main() -> int:
    found = problem()
    if found:
        print(f"ERROR: {found} {HINT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
