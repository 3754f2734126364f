"""Test-only: remember every server error the app produced, so that a test fails on it.

The test settings put ``RecordServerErrors`` first in the middleware and ``RecordingHandler`` on
the ``django.request`` and ``django.server`` loggers. Whatever reaches the app in this process
(the test client, ``live_server`` and the browsers talking to it, ``RequestFactory`` views run
through the handler) lands in one list; ``tests/conftest.py`` empties it before each test and fails
the test when a 5xx is in it at the end, unless the test says which codes it provokes on purpose
with ``@pytest.mark.allows_5xx(503)``. A 500 can then never hide behind a test that only looks at
the next page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class ServerError:
    status: int
    method: str
    path: str
    source: str  # "response" (the middleware) or the logger's name
    detail: str = ""

    def describe(self) -> str:
        text = f"{self.status} {self.method} {self.path} ({self.source})"
        return f"{text}\n{self.detail}" if self.detail else text


_lock = threading.Lock()
_errors: list[ServerError] = []


def record(error: ServerError) -> None:
    with _lock:
        _errors.append(error)


def take() -> list[ServerError]:
    """The errors recorded since the last call, and forget them. A response and the log record
    of the same request count once (the one with a traceback is kept)."""
    with _lock:
        found = list(_errors)
        _errors.clear()
    merged: dict[tuple[int, str, str], ServerError] = {}
    for error in found:
        key = (error.status, error.method, error.path)
        if key not in merged or (error.detail and not merged[key].detail):
            merged[key] = error
    return list(merged.values())


class RecordServerErrors:
    """Outermost middleware: notes every response with a status of 500 or more."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 500:
            detail = ""
            if response.get("Content-Type", "").startswith(("application/json", "text/plain")):
                detail = response.content[:500].decode("utf-8", "replace")
            record(
                ServerError(
                    response.status_code, request.method or "-", request.path, "response", detail
                )
            )
        return response


class RecordingHandler(logging.Handler):
    """Notes every ERROR record of ``django.request``/``django.server``: a request that failed,
    including one whose exception escaped the middleware (the traceback goes with it)."""

    def emit(self, log: logging.LogRecord) -> None:
        status = int(getattr(log, "status_code", None) or 500)
        if status < 500:
            return
        request = getattr(log, "request", None)
        method = getattr(request, "method", None) or "-"
        path = getattr(request, "path", None) or log.getMessage()[:200]
        detail = logging.Formatter().formatException(log.exc_info)[-3000:] if log.exc_info else ""
        record(ServerError(status, method, str(path), log.name, detail))
