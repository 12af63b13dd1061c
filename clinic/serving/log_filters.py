"""What a log line may not carry: a patient's name or anything typed into the app.

Logs travel further than the database (a log service, a support ticket, backups kept longer) and
are read by people who may not see patient records. Django logs paths (never bodies or query
strings) and tracebacks without local values; DRF logs nothing about a request; the SQL debug log,
which carries every parameter, is switched off in settings.LOGGING. What remains is the sign-in
lockout (django-axes): it names the username of every failed and successful sign-in, and a
patient's username is usually built from their name (`first.last`, `PatientLoginForm`).
tests/security/test_logs.py drives the app's flows and reads the log output.
"""

from __future__ import annotations

import logging
import re

# `username: "amelia.clarke"` (axes' client string), `'username': 'x'`, `username=x`.
USERNAME_VALUE = re.compile(r"""(\busername\b['"]?\s*[:=]\s*)("[^"]*"|'[^']*'|[^,\s}]+)""")
REDACTED = "[redacted]"


class RedactUsernames(logging.Filter):
    """Replaces the value of every `username` in a log message; keeps the rest of the line (the
    address, the path), which is what investigating an attack needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call: logging reports it itself
        redacted = USERNAME_VALUE.sub(rf"\1{REDACTED}", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
