"""One background thread of the serving process, for the embedded default's jobs (no broker).

:func:`generation.engine.enqueue` hands batch tasks to it when ``JOBS_EMBEDDED`` is
"background". It runs them one at a time, in the order they came: a single writer besides the
requests, so SQLite is not fought over. The thread is a daemon: work it had not finished when the
process stopped is found again from the database (:func:`generation.engine.resumable`), never
from this queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections

logger = logging.getLogger(__name__)


class Background:
    """A queue and the thread that empties it: ``run(name, args)`` for each task submitted, with
    the thread's database connections closed after each. It counts what it holds per key (a
    job), so that the process knows which jobs it is working on."""

    def __init__(self, run: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self._run_task = run
        self._queue: queue.SimpleQueue[tuple[Hashable, str, tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._held: Counter[Hashable] = Counter()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def submit(self, key: Hashable, name: str, args: tuple[Any, ...]) -> None:
        """Queue the task ``name`` with ``args`` for ``key``; start the thread if it is not up."""
        with self._lock:
            self._held[key] += 1
            self._queue.put((key, name, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="jobs-background", daemon=True
                )
                self._thread.start()

    def inside(self) -> bool:
        """Whether the caller runs on this thread."""
        return bool(getattr(self._local, "inside", False))

    def holds(self, key: Hashable) -> bool:
        """Whether work of ``key`` is queued or running."""
        with self._lock:
            return self._held[key] > 0

    def wait(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or running; False when ``timeout_s`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: sum(self._held.values()) == 0, timeout=timeout_s)

    def _loop(self) -> None:
        self._local.inside = True
        while True:
            key, name, args = self._queue.get()
            try:
                self._run_task(name, args)
            except Exception:  # noqa: BLE001 - the items and the job record what went wrong
                logger.exception("background task %s%r failed", name, args)
            finally:
                connections.close_all()  # this thread's own connections
                with self._lock:
                    self._held[key] -= 1
                    self._lock.notify_all()
