"""`make serve`'s first step: refuse, in one clear line, to start production on development settings.

    python -m clinic.preflight

The settings already stop on a missing SECRET_KEY or ALLOWED_HOSTS when DEBUG is off; this turns
that into a message instead of a traceback, and also refuses DEBUG on, which would otherwise serve
tracebacks and the development secret key to the internet through gunicorn.
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
    return None


def main() -> int:
    found = problem()
    if found:
        print(f"ERROR: {found} {HINT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
