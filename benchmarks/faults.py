"""Faults survived: simulated participants take a study through gunicorn + PostgreSQL while
workers, the master and the database are killed; then every acknowledged rating is checked.

    python benchmarks/faults.py [--participants 80 --trials 6 --think 1.0]

Faults, each in its own phase with new participants:
1. SIGKILL one gunicorn worker mid-run (the master starts another);
2. SIGKILL the master and its workers, then start gunicorn again;
3. restart PostgreSQL mid-run (``pg_ctlcluster ... restart``; needs the local cluster);
4. clients that double-submit (30 % of submits sent twice at once) and resend after errors.
For each: participants, ratings acknowledged, stored, lost, duplicated; and whether every
participant resumed and finished. Clients behave like the participant page: they resend the same
submission (same id) with back-off until the server acknowledges it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import participants as P  # noqa: E402  (benchmarks/participants.py: database set-up, seed, check)

from tests.harness.gunicorn import Gunicorn  # noqa: E402  (participants.py put the root on sys.path)
from tests.harness.load import run_phase  # noqa: E402

ROOT = P.ROOT


async def with_fault(args, slug: str, fault, *, double_submit: float = 0.0, seed: int = 0):
    task = asyncio.ensure_future(
        run_phase(
            "127.0.0.1",
            args.port,
            slug,
            args.participants,
            args.trials,
            args.think,
            args.ramp,
            seed,
            double_submit=double_submit,
        )
    )
    await asyncio.sleep(args.fault_after)
    if fault is not None:
        await asyncio.get_running_loop().run_in_executor(None, fault)
    return await task


def pg_restart() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--participants", type=int, default=80)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--fault-after", type=float, default=4.0, help="seconds into each phase")
    parser.add_argument("--skip-postgres", action="store_true", help="do not restart PostgreSQL")
    parser.add_argument("--verbose", action="store_true", help="print the kinds of client errors")
    args = parser.parse_args()

    bench_url = P.setup_database(args.database_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "DATABASE_URL": bench_url,
        "SECRET_KEY": "faults-" + uuid.uuid4().hex,
        "DEBUG": "0",
        "SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": "/tmp/musiscene-faults",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "ERROR",
        "GUNICORN_ACCESSLOG": "",
        "RATELIMIT_ENABLED": "0",
    }
    slug = P.seed(env, 16)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = Gunicorn(env, args.port, threads=8)
    server.start(timeout=30)

    def kill_worker():
        victim = server.workers()[0]
        victim.send_signal(signal.SIGKILL)

    def kill_master_and_restart():
        server.kill_all()
        time.sleep(1.0)
        server.start(timeout=30)

    phases = [
        ("SIGKILL a gunicorn worker", kill_worker, 0.0),
        ("SIGKILL the master, restart", kill_master_and_restart, 0.0),
    ]
    if not args.skip_postgres:
        phases.append(("restart PostgreSQL", pg_restart, 0.0))
    phases.append(("double submits and resends", None, 0.3))
    print(
        f"{args.participants} participants per phase, {args.trials} trials each, ~{args.think:g} s "
        "per trial; "
        "gunicorn 2 workers x 8 threads; PostgreSQL"
    )
    print(
        f"{'fault':32} {'participants':>12} {'finished':>9} {'acknowledged':>12} {'stored':>7} "
        f"{'lost':>5} "
        f"{'duplicated':>10} {'client retries':>14}"
    )
    try:
        for i, (name, fault, double) in enumerate(phases):
            stats, wall = asyncio.run(with_fault(args, slug, fault, double_submit=double, seed=i))
            check = P.verify(env, stats.acked)
            print(
                f"{name:32} {args.participants:>12} {stats.completed:>9} "
                f"{check['acknowledged']:>12} "
                f"{check['stored']:>7} {check['lost']:>5} {check['duplicated']:>10} "
                f"{len(stats.errors):>14}"
            )
            if args.verbose:
                from collections import Counter

                print(
                    "   ",
                    dict(Counter(e.split("(")[0][:60] for e in stats.errors).most_common(6)),
                    f"409 for the losing copy of a double submit: {stats.conflicts}",
                )
    finally:
        server.stop(grace=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
