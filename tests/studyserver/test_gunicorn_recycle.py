"""Worker recycling without a stall: gunicorn recycles its workers every few dozen requests
while participants take the study at full speed (no think time); service never stops (no pause
between answers of 3 s, on a machine busy enough for 1-2 s answers; before the application was
preloaded and recycled workers left at once, replacing a worker took 4-10 s here), every request
is answered and every acknowledged rating is stored."""

from __future__ import annotations

import asyncio
import runpy
import threading
import time
from pathlib import Path

import psutil

from tests.harness.load import run_phase
from tests.studyserver.test_gunicorn_faults import _env, _free_port, server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_preloads_and_spreads_the_recycling(monkeypatch):
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "300")
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS_JITTER", raising=False)
    monkeypatch.delenv("GUNICORN_PRELOAD", raising=False)
    conf = runpy.run_path(str(ROOT / "studyserver" / "gunicorn.conf.py"))
    assert conf["preload_app"] is True
    assert conf["max_requests"] == 300 and conf["max_requests_jitter"] == 150


def test_service_does_not_stop_while_workers_recycle(transactional_db, live_study, monkeypatch):
    from survey.models import Participant, Rating
    from tests.harness.gunicorn import Gunicorn

    env = {**_env(), "GUNICORN_MAX_REQUESTS": "40"}
    g = Gunicorn(env, _free_port(), workers=2, threads=4)
    g.start()
    seen: set[int] = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                seen.update(w.pid for w in g.workers())
            except psutil.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        stats, _ = asyncio.run(
            run_phase("127.0.0.1", g.port, live_study.slug, 24, None, 0.0, 1.0, 0)
        )
    finally:
        stop.set()
        watcher.join()
        g.stop(grace=10)
    assert len(seen) >= 4, seen  # both workers were recycled at least once
    assert stats.errors == [] and stats.finished == 24
    gaps = [b - a for a, b in zip(stats.answered_at, stats.answered_at[1:], strict=False)]
    worst = max(range(len(gaps)), key=gaps.__getitem__)
    assert gaps[worst] < 3.0, stats.log[
        worst - 2 : worst + 4
    ]  # never a pause while a worker restarts
    for code, acked in stats.acked.items():
        assert Rating.objects.filter(participant__code=code).count() == acked
    assert Participant.objects.filter(status="completed").count() == 24
