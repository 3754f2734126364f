"""Real Celery workers over the local Redis, writing into the test database (PostgreSQL with
DATABASE_URL=postgres://..., else the SQLite test database file).

Each test process uses its own Redis db number and queue names, so parallel runs (pytest-xdist,
other suites) do not meet. The tests skip when Redis is not running, or when the SQLite test
database lives in memory (a worker subprocess could not see it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from generation.models import GenerationItem, GenerationJob, Track

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).parent / "celery")


def _redis():
    import redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    db = 10 + (int("".join(ch for ch in worker if ch.isdigit()) or "0") % 6)
    client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(
            f"Redis is not reachable at 127.0.0.1:6379 ({exc}); start it to run the "
            "real-worker "
            "tests"
        )
    return client, db


class Cluster:
    """Workers and commands of one test, sharing its queues, database and media folder."""

    def __init__(self, tmp_path: Path, redis_client, redis_db: int):
        self.tmp, self.redis, self.token = tmp_path, redis_client, uuid.uuid4().hex[:10]
        self.queues = (f"gpu-{self.token}", f"default-{self.token}")
        module = f"jobs_worker_settings_{self.token}"
        (tmp_path / f"{module}.py").write_text(
            "from studyserver.test_settings import *  # noqa\n"
            f"CELERY_BROKER_URL = 'redis://127.0.0.1:6379/{redis_db}'\n"
            "CELERY_TASK_ALWAYS_EAGER = False\n"
            f"CELERY_TASK_DEFAULT_QUEUE = {self.queues[1]!r}\n"
            "CELERY_TASK_ROUTES = {'generation.tasks.generate_*': "
            f"{{'queue': {self.queues[0]!r}}}}}\n"
            "CELERY_WORKER_ENABLE_REMOTE_CONTROL = False\n"
            "GENERATION_CLAIM_TIMEOUT_S = 4\n"
            "GENERATION_HEARTBEAT_S = 0.5\n"
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": module,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DATABASE_URL": _database_url(),
            "VAR_DIR": str(settings.VAR_DIR),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
        }
        self.workers: list[subprocess.Popen] = []

    def worker(self) -> subprocess.Popen:
        n = len(self.workers)
        log = open(self.tmp / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                "studyserver",
                "worker",
                "-Q",
                ",".join(self.queues),
                "-c",
                "1",
                "-P",
                "prefork",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-l",
                "info",
                "-n",
                f"jobs-{self.token}-{n}@%h",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.tmp / f"worker-{n}.log").read_text(errors="replace")

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "generate_tracks", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """kill -9 the worker: its main process and its pool child (its own process group)."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.workers:
            self.kill(proc)
        # Messages the killed workers held wait in Redis' unacked hash: remove this test's.
        for key in self.redis.scan_iter(match=f"*{self.token}*"):  # the queues, their bindings
            self.redis.delete(key)
        for tag, payload in self.redis.hgetall("unacked").items():
            if self.token.encode() in payload:
                self.redis.hdel("unacked", tag)
                self.redis.zrem("unacked_index", tag)
        for key in self.redis.scan_iter(match="_kombu.binding.*"):
            for member in self.redis.smembers(key):
                if self.token.encode() in member:
                    self.redis.srem(key, member)


def _database_url() -> str:
    """The test database, as a worker subprocess reaches it."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def cluster(transactional_db, tmp_path):
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and (":memory:" in name or "mode=memory" in name):
        pytest.skip(
            "a worker subprocess cannot share SQLite's in-memory test database; "
            "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
        )
    client, db = _redis()
    c = Cluster(tmp_path, client, db)
    yield c
    c.close()


def _track_files() -> set[str]:
    folder = Path(settings.MEDIA_ROOT) / "tracks"
    return {f"tracks/{p.name}" for p in folder.iterdir()} if folder.exists() else set()


def _wait_for(predicate, timeout: float, what: str, cluster: Cluster):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    logs = "\n".join(
        f"--- worker {i}\n{cluster.log(i)[-3000:]}" for i in range(len(cluster.workers))
    )
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{logs}")


def test_a_real_worker_generates_a_study_into_the_database(cluster, bare_study, tiny_musicgen):
    cluster.worker()
    run = cluster.command(
        "--study",
        "gen",
        "--generator",
        "musicgen",
        "--model",
        str(tiny_musicgen),
        "--duration",
        "1",
        "--batch-size",
        "2",
        "--poll",
        "0.2",
    )
    assert run.returncode == 0, run.stdout + run.stderr + cluster.log(0)
    assert "4 of 4 tracks to make" in run.stdout and "4/4 tracks" in run.stdout
    assert "done: 4 tracks made" in run.stdout and "bound the tracks" in run.stdout

    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.DONE
    assert set(job.items.values_list("status", flat=True)) == {GenerationItem.Status.DONE}
    tracks = Track.objects.filter(generator="musicgen", model_id=str(tiny_musicgen))
    assert tracks.count() == 4
    assert all(Path(settings.MEDIA_ROOT, t.video.name).is_file() for t in tracks)
    form = bare_study.forms.get()
    assert set(form.trials.values_list("trial_tracks__track__generator", flat=True)) == {"musicgen"}
    log = cluster.log(0)
    assert log.count("worker loaded MusicGen") == 1, "two batches, one model load"
    assert "generation.tasks.generate_batch" in log and "generation.tasks.ingest_item" in log


def test_a_job_survives_kill_9_of_its_worker(cluster, bare_study, tiny_musicgen):
    before = _track_files()
    first = cluster.worker()
    run = cluster.command(
        "--study",
        "gen",
        "--generator",
        "musicgen",
        "--model",
        str(tiny_musicgen),
        "--duration",
        "1",
        "--batch-size",
        "1",
        "--no-wait",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    job = GenerationJob.objects.get()

    claimed = _wait_for(
        lambda: GenerationItem.objects.filter(
            job=job, status=GenerationItem.Status.CLAIMED
        ).first(),
        90,
        "the first worker to claim a batch",
        cluster,
    )
    cluster.kill(first)  # kill -9 in the middle of the job
    killed_item = GenerationItem.objects.get(pk=claimed.pk)
    assert killed_item.status in {
        GenerationItem.Status.CLAIMED,
        GenerationItem.Status.GENERATED,
        GenerationItem.Status.INGESTING,
        GenerationItem.Status.DONE,
    }

    cluster.worker()
    _wait_for(
        lambda: GenerationJob.objects.get(pk=job.pk).status != GenerationJob.Status.RUNNING,
        90,
        "the second worker to finish the job",
        cluster,
    )

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE, job.error
    assert set(job.items.values_list("status", flat=True)) == {GenerationItem.Status.DONE}
    tracks = Track.objects.filter(generator="musicgen")
    cells = list(tracks.values_list("clip_id", "condition_id"))
    assert len(cells) == 4 and len(set(cells)) == 4, "each track exactly once"
    assert set(job.items.values_list("track_id", flat=True)) == set(
        tracks.values_list("id", flat=True)
    )
    if (
        killed_item.status == GenerationItem.Status.CLAIMED
    ):  # the usual case: killed while generating
        assert GenerationItem.objects.get(pk=claimed.pk).reclaims == 1
    from generation.services import track_raw_audio_name

    referenced = {
        name for t in tracks for name in (t.audio.name, t.video.name, track_raw_audio_name(t))
    }
    assert _track_files() - before == referenced, "no orphan files"
