"""Faults survived through the real server: participants take a study through gunicorn while a
worker is SIGKILLed, then the master is SIGKILLed and gunicorn restarted. Every rating the
server acknowledged is stored exactly once, and every participant resumes and finishes."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from tests.harness.gunicorn import Gunicorn
from tests.harness.load import run_phase


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return f"sqlite:///{db['NAME']}"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",
        "SECRET_KEY": "faults-test",
        "VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "RATELIMIT_ENABLED": "0",
        "LOG_LEVEL": "ERROR",
        "GUNICORN_ACCESSLOG": "",
        "CONN_MAX_AGE": "60",
    }


@pytest.fixture
def server(transactional_db, live_study):
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and (":memory:" in name or "mode=memory" in name):
        pytest.skip("gunicorn cannot share SQLite's in-memory test database")
    g = Gunicorn(_env(), _free_port())
    g.start()
    yield g
    g.stop()


def test_acknowledged_ratings_survive_sigkill_of_worker_and_master(server, live_study):
    from survey.models import Participant, Rating

    def faults():
        time.sleep(1.5)
        server.kill_a_worker()
        time.sleep(1.5)
        server.kill_all()
        time.sleep(0.5)
        server.start()

    injector = threading.Thread(target=faults)
    injector.start()
    stats, _ = asyncio.run(run_phase("127.0.0.1", server.port, live_study.slug, 16, 2, 1.0, 2.0, 0))
    injector.join()
    assert stats.completed == 16, [
        e for e in stats.errors if e.startswith("aborted")
    ]  # everyone finished
    for code, acked in stats.acked.items():
        assert Rating.objects.filter(participant__code=code).count() == acked
    assert sum(stats.acked.values()) == 16 * 2 * 2 == Rating.objects.count()
    assert Participant.objects.filter(progress=2).count() == 16
