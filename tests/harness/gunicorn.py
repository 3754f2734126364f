"""The project's gunicorn (studyserver/gunicorn.conf.py) run in a process group of its own, so
that a test or a benchmark can kill one worker, or the master and every worker, and start it
again. Used by the fault benchmark (benchmarks/faults.py) and the fault tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.harness.load import Browser

ROOT = Path(__file__).resolve().parents[2]


class Gunicorn:
    def __init__(
        self,
        env: dict[str, str],
        port: int,
        *,
        workers: int = 2,
        threads: int = 4,
        log: Path | None = None,
    ):
        self.env, self.port, self.log = env, port, log
        self.n_workers, self.threads = workers, threads
        self.proc: subprocess.Popen | None = None

    def start(self, *, timeout: float = 60.0) -> None:
        """Start gunicorn and wait until /healthz answers."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "studyserver/gunicorn.conf.py",
                "studyserver.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.n_workers),
                "--threads",
                str(self.threads),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab") if self.log else subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                asyncio.run(Browser("127.0.0.1", self.port).request("GET", "/healthz", timeout=2))
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def workers(self) -> list[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children()

    def kill_a_worker(self) -> None:
        self.workers()[0].send_signal(signal.SIGKILL)

    def kill_all(self) -> None:
        """SIGKILL the master and every worker at once, as a crash of the host would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, *, grace: float = 0.0) -> None:
        """SIGTERM and up to ``grace`` seconds to finish, then SIGKILL (at once when 0)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if grace:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                pass
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
