"""Operations: request ids, structured logs, metrics, security headers, health and readiness.

- Every request gets an id (the proxy's ``X-Request-ID`` when it sends one, else a new one); it
  is returned in the response and attached to every log record made while serving it.
- ``JsonFormatter`` writes one JSON object per log line (time, level, logger, message, request id).
- ``/metrics`` serves Prometheus text: requests by view and status, latency, ratings stored,
  participants by status, Celery queue depth. Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so
  that the workers' counters add up.
- ``/healthz`` answers when the process is up; ``/readyz`` checks the database, the broker (when
  one is configured) and that the media storage can be written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("studyserver.ops")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter("musiscene_http_requests_total", "HTTP requests", ["view", "method", "status"])
LATENCY = Histogram(
    "musiscene_http_request_seconds",
    "Time to answer a request",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _view_name(request: HttpRequest) -> str:
    try:
        match = request.resolver_match or resolve(request.path_info)
    except Resolver404:
        return "unmatched"
    return match.url_name or match.view_name or "unnamed"


class RequestIdMiddleware:
    """Request id, access metrics and security headers for every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        start = time.perf_counter()
        # the thread's CPU clock is a system call: read only when Server-Timing is asked for
        cpu_start = time.thread_time() if settings.SERVER_TIMING else 0.0
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        view = _view_name(request)
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - start)
        response["X-Request-ID"] = rid
        if settings.SERVER_TIMING:  # this thread's CPU for the request (benchmarks/participants.py)
            response["Server-Timing"] = f"cpu;dur={1000 * (time.thread_time() - cpu_start):.2f}"
        if not request.path.startswith("/admin/") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class DatabaseUnavailableMiddleware:
    """While the database is unreachable (a restart, a failover) answer 503 with Retry-After, not
    a 500 page: participants' pages resend their ratings, and a 503 tells them to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.db import InterfaceError, OperationalError

        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logging.getLogger("studyserver.ops").warning("database unavailable: %s", exception)
        if request.content_type == "application/json" or request.path.startswith("/api/"):
            resp: HttpResponse = JsonResponse(
                {
                    "ok": False,
                    "error": "the server is busy; your answers are kept and will be sent again",
                    "code": "unavailable",
                },
                status=503,
            )
        else:  # a page in the participant's language, chosen without the database
            from survey.error_pages import render_error

            resp = render_error(request, 503, ask_database=False)
        resp["Retry-After"] = "5"
        return resp


# -- health ----------------------------------------------------------------------------------


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on pages without an icon link (the admin's):
    the site's icon instead of a 404 in every console."""
    response = HttpResponsePermanentRedirect(static("survey/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "in-process (no broker configured)"
    from studyserver.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_storage() -> str:
    """The media store is reachable (and, when local, a writable folder), without writing a
    file: a probe that writes on every call lets anyone who can reach /readyz fill the disk."""
    try:
        root = default_storage.path("")
    except NotImplementedError:  # object storage: one metadata request
        default_storage.exists("health-probe")
        return "ok"
    # A folder not made yet (no upload so far) is fine when it can be made.
    folder = root
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise OSError("the media folder is not a writable folder")
    return "ok"


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database, the broker and the media store answer. A failure names the check
    and the kind of error only: the details (host names, paths) go to the log, not to the
    anonymous caller. Rate-limited per address (RATELIMIT_READYZ_PER_MIN)."""
    # Imported here: this module is loaded by the logging configuration, before the apps.
    from survey import throttle

    if settings.RATELIMIT_ENABLED and not throttle.hit(
        "readyz", throttle.client_ip(request), limit=settings.RATELIMIT_READYZ_PER_MIN, window_s=60
    ):
        return throttle.too_many(60)
    checks: dict[str, str] = {}
    ok = True
    for name, check in (
        ("database", _check_database),
        ("broker", _check_broker),
        ("storage", _check_storage),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
            ok = False
            checks[name] = f"error: {type(exc).__name__}"
            logger.warning("readyz: %s check failed: %s: %s", name, type(exc).__name__, exc)
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


# -- metrics ---------------------------------------------------------------------------------


class _DatabaseCollector:
    """Gauges read from the database at scrape time (true across all workers)."""

    def collect(self):
        from django.db.models import Count

        from survey.models import Participant, Rating

        ratings = GaugeMetricFamily("musiscene_ratings_stored", "Ratings stored")
        ratings.add_metric([], Rating.objects.count())
        yield ratings
        participants = GaugeMetricFamily(
            "musiscene_participants", "Participants by status", labels=["status"]
        )
        for row in Participant.objects.values("status").annotate(n=Count("id")):
            participants.add_metric([row["status"]], row["n"])
        yield participants
        depth = GaugeMetricFamily(
            "musiscene_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"]
        )
        for queue, n in _queue_depths().items():
            depth.add_metric([queue], n)
        yield depth


def _queue_depths() -> dict[str, int]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return {}
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1)
        return {q: int(client.llen(q)) for q in ("default", "gpu")}
    except Exception:  # noqa: BLE001 - metrics must not fail the scrape
        return {}


def metrics(request: HttpRequest) -> HttpResponse:
    if (
        settings.METRICS_TOKEN
        and request.headers.get("Authorization") != f"Bearer {settings.METRICS_TOKEN}"
    ):
        return HttpResponse(
            "metrics need the bearer token (METRICS_TOKEN)", status=401, content_type="text/plain"
        )
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(_DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
