"""gunicorn's configuration for `make serve` (docs/deploy.md), read from the environment.

    gunicorn --config python:clinic.serving.gunicorn_conf clinic.wsgi

- BIND: where to listen, default 127.0.0.1:8000 (a TLS proxy on the same host in front); set
  0.0.0.0:8000 when the proxy runs elsewhere, and FORWARDED_ALLOW_IPS to its address so gunicorn
  believes its X-Forwarded-Proto (gunicorn reads that variable itself).
- WEB_CONCURRENCY: worker processes, default 2 × CPU cores + 1 (gunicorn's own advice for
  synchronous workers; every request here is a short database round trip).
- GUNICORN_TIMEOUT: seconds before a stuck worker is restarted, default 30.

The access log goes to stdout without query strings: report filters and search terms may carry a
patient's name, and logs are kept and copied far more widely than the database.
"""

import multiprocessing
import os

wsgi_app = "clinic.wsgi:application"

bind = [os.environ.get("BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# Let in-flight requests finish on a restart or deploy.
graceful_timeout = timeout

# gunicorn's runtime control socket defaults to one path per user: a second server on the same host
# (another instance, a test run) would take it over. Nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# %(U)s is the path without the query string; %(M)s the time taken in milliseconds.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
