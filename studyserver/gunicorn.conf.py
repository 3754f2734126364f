"""gunicorn settings: `gunicorn -c studyserver/gunicorn.conf.py studyserver.wsgi`.

Threaded workers: a participant's request spends most of its time waiting on the database, so
a few processes with several threads each use a small machine well and keep connections alive.
Every value can be overridden from the environment (GUNICORN_*).

Recycling without a stall: the application is loaded (and warmed, studyserver/wsgi.py) once in
the master before the workers are forked, so a recycled worker is serving again within
milliseconds instead of importing the project again (about 2 s of CPU); and each worker's
request limit is drawn between ``max_requests`` and 1.5 times that, so the workers seldom
restart together. With preloading, new code needs a restart of the master (not a HUP).
"""

import logging
import multiprocessing
import os
import sys

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))  # a stuck worker is restarted
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))  # behind a proxy that reuses connections
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() not in ("0", "false", "no", "off")
# Recycle workers to bound memory growth, each after its own number of requests.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 2))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
# The access log without recruiter ids, media tokens or participant cookies
# (studyserver/logscrub.py).
logger_class = "studyserver.logscrub.ScrubbingGunicornLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def worker_exit(server, worker):
    """A worker that ends cleanly (recycled, or told to stop) leaves at once: tearing down the
    interpreter of a loaded application takes more than a second of CPU, during which the worker
    serves nothing and the master does not yet start its replacement. A worker that failed to
    boot exits as gunicorn decides (the master then stops instead of restarting it forever)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        from django.db import connections

        connections.close_all()
        logging.shutdown()  # flush the log handlers
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def post_fork(server, worker):
    """A forked worker opens its own database connections (the master holds none: the warm-up
    touches no database); this makes sure of it."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.connection = None  # never close the master's socket from a child
