"""gunicorn settings: `gunicorn -c studyserver/gunicorn.conf.py studyserver.wsgi`.

Threaded workers: a participant's request spends most of its time waiting on the database, so
a few processes with several threads each use a small machine well and keep connections alive.
Every value can be overridden from the environment (GUNICORN_*).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))  # a stuck worker is restarted
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))  # behind a proxy that reuses connections
max_requests = int(
    os.environ.get("GUNICORN_MAX_REQUESTS", 5000)
)  # recycle workers to bound memory growth
max_requests_jitter = 500
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
# The access log without recruiter ids, media tokens or participant cookies
# (studyserver/logscrub.py).
logger_class = "studyserver.logscrub.ScrubbingGunicornLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
