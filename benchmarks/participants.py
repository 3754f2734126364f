"""Whole participants over HTTP against gunicorn: trials/s, requests, latency, CPU, exactly-once.

One command per mode (each starts a fresh database and its own gunicorn with the project's
config, DEBUG off):

    python benchmarks/participants.py saturate -n 50            # N at once, think time 0
    python benchmarks/participants.py saturate -n 200 --db sqlite
    python benchmarks/participants.py burst                      # 1,000 arriving within 20 s,
                                                                 # then ~20 s per page
    python benchmarks/participants.py paced                      # 1,000, ~20 s per trial, 100 s
    python benchmarks/participants.py recycle                    # GUNICORN_MAX_REQUESTS=300, 50

Each simulated participant does what the browser does (tests/harness/load.py): entry with
PROLIFIC_PID, consent, instructions, practice, the 15 x 3 trials of the paper's form 1 (every page
and JSON request the trial page makes), the questionnaire and the last page; media and static
files only with ``--media``. Participants are created inside the measured window. Afterwards every
acknowledged rating is looked up in the database.

Printed: trials/s, requests per trial, p50/p95/p99 per request kind, the server's own CPU per
request kind (Server-Timing, SERVER_TIMING=1), server and database CPU per trial read from /proc
(gunicorn's master, its workers and the workers it reaped; PostgreSQL's postmaster, its backends
and the backends it reaped), and the errors. PostgreSQL runs as a private cluster started for the
run (so that only this benchmark's database work is counted) unless ``--database-url`` names a
server (then its whole CPU is counted, other users' included).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.load import Browser, Stats, run_phase  # noqa: E402  (shared with the tests)

MODES = {
    # mode: (participants, arrival spread s, think s per item, think s per page read,
    #        GUNICORN_MAX_REQUESTS or None)
    "saturate": (50, 0.0, 0.0, 0.0, None),
    # A study going live: 1,000 arrive within 20 s, then each takes a person's time per page.
    # 20 s (drawn from 15-25 s) is quicker than any real participant: the consent and the
    # instructions are read, the practice and every trial mean hearing three tracks (10 s each
    # in the paper's study) and the questionnaire is answered. --think 0 gives the stress figure
    # (everyone answering at once, 15,000 trials queued at the start).
    "burst": (1000, 20.0, 20.0, 20.0, None),
    "paced": (1000, 100.0, 20.0, 0.0, None),
    "recycle": (50, 0.0, 0.0, 0.0, 300),
}
PG_PORT = 55432
PG_DIR = Path("/tmp/musiscene-bench-pg")

# -- PostgreSQL: a private cluster, so that its CPU is this benchmark's alone -------------------


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install PostgreSQL or pass --database-url")
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_private_start() -> str:
    if PG_DIR.exists():
        pg_private_stop()
        shutil.rmtree(PG_DIR, ignore_errors=True)
    PG_DIR.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(PG_DIR, "postgres", "postgres")
    run = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(
        _as_postgres(
            [_pg_bin("initdb"), "-D", str(PG_DIR / "data"), "-A", "trust", "-U", "postgres"]
        ),
        **run,
    )
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(PG_DIR / "data"),
                "-l",
                str(PG_DIR / "log"),
                "-o",
                f"-p {PG_PORT} -k {PG_DIR} -c listen_addresses=127.0.0.1 -c max_connections=200",
                "-w",
                "start",
            ]
        ),
        **run,
    )
    import psycopg

    with psycopg.connect(
        f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE musiscene_bench")
    return f"postgres://postgres@127.0.0.1:{PG_PORT}/musiscene_bench"


def pg_private_stop() -> None:
    subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(PG_DIR / "data"), "-m", "fast", "stop"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pg_shared_database(url: str) -> str:
    """A database of this run's own on the server of ``url`` (whose database is used only to
    connect): ``musiscene_bench_<random>``, dropped again by ``pg_shared_drop``."""
    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"musiscene_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def pg_shared_drop(admin_url: str, run_url: str) -> None:
    import psycopg

    name = run_url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


LOCK = Path("/tmp/musiscene-bench.lock")


def one_run_at_a_time(what: str):
    """Hold this machine's benchmark lock for the life of the process, or stop with a clear
    message: two runs at once would share the cores (spoiling both figures), and they share
    fixed folders, ports and the private cluster, which a second run would delete under the
    first. Returns the open lock file (keep it)."""
    handle = LOCK.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise SystemExit(
            f"another benchmark is running on this machine ({holder}); "
            f"run one at a time (the lock is {LOCK})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {what}")
    handle.flush()
    return handle


def postmaster_pid(private: bool) -> int | None:
    if private:
        return int((PG_DIR / "data" / "postmaster.pid").read_text().split()[0])
    for p in psutil.process_iter(["name", "ppid"]):
        if p.info["name"] in ("postgres", "postmaster") and p.info["ppid"] == 1:
            return p.pid
    return None


# -- CPU from /proc -----------------------------------------------------------------------------


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds of a process, its live children, and the children it has reaped."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children():
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


# -- the study ------------------------------------------------------------------------------------


def seed(env: dict[str, str], n_clips: int) -> str:
    """A live study with the paper's form 1 (15 videos x 3 tracks); every track shares one small
    real file (media bytes are fetched only with --media)."""
    code = f"""
import django, os
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import numpy as np, tempfile
from pathlib import Path
from generation import media, services
from generation.models import Clip, Track
from survey import services as ss
from survey.models import Study
tmp = Path(tempfile.mkdtemp())
frames = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8) for i in range(20)]
t = np.arange(64000) / 32000
tone = lambda hz: (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
path = media.write_video(frames, 10, tmp / "c.mp4", audio=tone(300), sample_rate=32000)
conds = services.conditions_ensure_paper()
first = services.clip_import(path=path, key="bench-000")
track = services.track_create(clip=first, condition=conds[0], samples=tone(440),
                              sample_rate=32000, generator="bench", loudness_target_lufs=-23.0)
for i in range({n_clips}):
    clip = first if i == 0 else Clip.objects.create(
        key=f"bench-{{i:03d}}", video=first.video, duration_s=first.duration_s,
        width=first.width, height=first.height,
    )
    for c in conds:
        if clip.pk == track.clip_id and c.pk == track.condition_id:
            continue
        Track.objects.create(
            clip=clip, condition=c, audio=track.audio, video=track.video,
            duration_s=track.duration_s, sample_rate=32000, loudness_lufs=track.loudness_lufs,
            loudness_target_lufs=-23.0, gain_db=0, generator="bench",
            params_hash=f"b{{clip.pk}}-{{c.pk}}",
        )
study = Study.objects.create(title="Bench", slug="bench", min_listen_s=1.0, target_per_form=100000,
                             completion_redirect_url="https://app.prolific.com/submissions/complete?cc={{code}}")
form_conditions = [c for c in conds if c.name in ("video_caps", "music_caps", "msi")]
f1 = ss.form_create(study=study, name="form1", n_videos=15, conditions=form_conditions)
ss.form_sample_trials(form=f1, seed=1)
ss.study_go_live(study=study)
print("seeded")
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return "bench"


def verify(env: dict[str, str], acked: dict[str, int]) -> dict[str, int]:
    """Every acknowledged rating in the database, none twice."""
    code = """
import django, json, sys
django.setup()
from django.db.models import Count
from survey.models import Participant, Rating
acked = json.load(sys.stdin)
people = Participant.objects.filter(code__in=list(acked)).annotate(n=Count("ratings"))
stored = dict(people.values_list("code", "n"))
dups = Rating.objects.values("participant", "track").annotate(n=Count("id")).filter(n__gt=1).count()
lost = sum(max(0, a - stored.get(c, 0)) for c, a in acked.items())
extra = sum(max(0, stored.get(c, 0) - a) for c, a in acked.items())
print(json.dumps({"participants": len(acked), "acknowledged": sum(acked.values()),
                  "stored": sum(stored.values()), "lost": lost,
                  "unacknowledged_but_stored": extra, "duplicated": dups,
                  "completed": Participant.objects.filter(status="completed").count()}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        input=json.dumps(acked),
        text=True,
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{cpu or platform.processor()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average before the run {load[0]:.2f}"
    )


# -- the run ------------------------------------------------------------------------------------


def report(stats: Stats, wall: float, cpu: dict[str, float], check: dict, args) -> dict:
    trials = stats.trials
    kinds = sorted(stats.latency)
    out = {
        "mode": args.mode,
        "db": args.db,
        "participants": args.n,
        "wall_s": round(wall, 2),
        "trials": trials,
        "trials_per_s": round(trials / wall, 1) if wall else 0,
        "requests": stats.requests,
        "requests_per_trial": round(stats.requests / trials, 2) if trials else None,
        "finished": stats.finished,
        "errors": len(stats.errors),
        "error_kinds": sorted({e.split(" at ")[0][:80] for e in stats.errors})[:10],
        "statuses": dict(sorted(stats.statuses.items())),
        "server_cpu_ms_per_trial": round(1000 * cpu["server"] / trials, 2) if trials else None,
        "db_cpu_ms_per_trial": round(1000 * cpu["db"] / trials, 2) if trials else None,
        "client_cpu_ms_per_trial": round(1000 * cpu["client"] / trials, 2) if trials else None,
        "server_cores": round(cpu["server"] / wall, 2),
        "db_cores": round(cpu["db"] / wall, 2),
        "latency_ms": {
            k: {
                "n": len(stats.latency[k]),
                "p50": round(1000 * pct(stats.latency[k], 50), 1),
                "p95": round(1000 * pct(stats.latency[k], 95), 1),
                "p99": round(1000 * pct(stats.latency[k], 99), 1),
                "max": round(1000 * max(stats.latency[k]), 1),
            }
            for k in kinds
        },
        "server_cpu_ms_by_kind": {
            k: round(sum(v) / len(v), 2) for k, v in sorted(stats.server_cpu_ms.items()) if v
        },
        "check": check,
    }
    every = [x for k in kinds for x in stats.latency[k]]
    out["latency_ms"]["all"] = {
        "n": len(every),
        "p50": round(1000 * pct(every, 50), 1),
        "p95": round(1000 * pct(every, 95), 1),
        "p99": round(1000 * pct(every, 99), 1),
        "max": round(1000 * max(every, default=0), 1),
    }
    return out


def print_report(r: dict) -> None:
    print(
        f"{r['mode']} on {r['db']}: {r['participants']} participants, {r['trials']} trials in "
        f"{r['wall_s']} s = {r['trials_per_s']} trials/s; {r['requests_per_trial']} requests per "
        f"trial; {r['finished']} finished; errors {r['errors']} {r['error_kinds'] or ''}"
    )
    print(
        f"  CPU per trial: server {r['server_cpu_ms_per_trial']} ms "
        f"({r['server_cores']} cores), database {r['db_cpu_ms_per_trial']} ms "
        f"({r['db_cores']} cores), load client {r['client_cpu_ms_per_trial']} ms"
    )
    print("  latency (ms)        n      p50     p95     p99     max   server CPU ms/request")
    for k, v in r["latency_ms"].items():
        cpu = r["server_cpu_ms_by_kind"].get(k, "")
        print(f"  {k:<14}{v['n']:>8}{v['p50']:>9}{v['p95']:>8}{v['p99']:>8}{v['max']:>8}   {cpu}")
    print("  check:", json.dumps(r["check"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("-n", type=int, help="participants (default: the mode's)")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server to use instead of a private cluster: the run makes a database "
        "of its own there (the URL's database is only connected to) and drops it afterwards; "
        "the server's whole CPU is counted",
    )
    parser.add_argument(
        "--think",
        type=float,
        help="seconds per item and per page read (mean; default: the mode's)",
    )
    parser.add_argument(
        "--ramp", type=float, help="arrival spread in seconds (default: the mode's)"
    )
    parser.add_argument("--media", action="store_true", help="fetch media and static files too")
    parser.add_argument(
        "--no-keep-alive",
        action="store_true",
        help="a new connection per request (default: each browser keeps its connection)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--max-requests",
        type=int,
        help="GUNICORN_MAX_REQUESTS (default: the mode's, else the config's)",
    )
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument(
        "--profile", help="py-spy record the first worker into this file (.svg: a flame graph)"
    )
    args = parser.parse_args()
    py_spy = None
    if args.profile:  # py-spy beside this Python (a venv's bin/), else on PATH
        beside = Path(sys.executable).with_name("py-spy")
        py_spy = str(beside) if beside.exists() else shutil.which("py-spy")
        if py_spy is None:
            parser.error("--profile needs py-spy (pip install py-spy)")
    n, ramp, think, page_think, max_requests = MODES[args.mode]
    args.n = args.n or n
    ramp = ramp if args.ramp is None else args.ramp
    if args.think is not None:
        think = page_think = args.think
    max_requests = args.max_requests or max_requests

    lock = one_run_at_a_time(" ".join(["participants.py", *sys.argv[1:]]))  # noqa: F841
    var = Path("/tmp/musiscene-bench")
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    private_pg = args.db == "postgres" and not args.database_url
    if args.db == "sqlite":
        url = f"sqlite:///{var / 'bench.sqlite3'}"
    elif private_pg:
        url = pg_private_start()
    else:
        url = pg_shared_database(args.database_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "MUSISCENE_NO_DOTENV": "1",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DEBUG": "0",
        "SECURE": "0",
        "BEHIND_PROXY": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": str(var),
        "GUNICORN_ACCESSLOG": "",
        "SERVER_TIMING": "1",
        # Every simulated participant comes from 127.0.0.1: the limits stay on (their cost is
        # counted) but high enough for one address to be a whole crowd.
        "RATELIMIT_ENABLED": "1",
        "RATELIMIT_PARTICIPANT_PER_MIN": "100000000",
        "RATELIMIT_ENTRY_PER_MIN": "100000000",
        "RATELIMIT_STARTS_PER_CLIENT_PER_10MIN": "100000000",
        "RATELIMIT_STUDY_STARTS_PER_MIN": "100000000",
    }
    if max_requests:
        env["GUNICORN_MAX_REQUESTS"] = str(max_requests)
    gunicorn = None
    try:
        slug = seed(env, 16)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        print("machine:", machine())
        gunicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "studyserver/gunicorn.conf.py",
                "studyserver.wsgi",
                "--bind",
                f"127.0.0.1:{args.port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(var / "gunicorn.log").open("wb"),  # a pipe nobody reads would fill and block
        )
        for _ in range(150):
            try:
                asyncio.run(Browser("127.0.0.1", args.port).request("GET", "/healthz"))
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1.0)  # every worker up
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads, the project's config"
            f"{f', GUNICORN_MAX_REQUESTS={max_requests}' if max_requests else ''}; {args.db}"
            f"{' (private cluster)' if private_pg else ''}; load client on the same machine; "
            f"think {think:g} s per item, {page_think:g} s per page read, arrivals over "
            f"{ramp:g} s{', with media' if args.media else ''}"
            f"; {'a new connection per request' if args.no_keep_alive else 'keep-alive'}"
        )
        pg = postmaster_pid(private_pg) if args.db == "postgres" else None
        me = psutil.Process()
        before = (tree_cpu_s(gunicorn.pid), tree_cpu_s(pg), sum(me.cpu_times()[:2]))
        profiler = None
        if args.profile:
            worker = psutil.Process(gunicorn.pid).children()[0].pid
            fmt = "flamegraph" if args.profile.endswith(".svg") else "raw"  # raw: collapsed stacks
            profiler = subprocess.Popen(
                # --gil: only the thread holding the GIL, i.e. Python's own CPU (a thread that is
                # runnable but waiting for a core or for the GIL would count otherwise)
                [py_spy, "record", "-p", str(worker), "-o", args.profile, "-f", fmt, "-r", "200"]
                + ["--gil"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        stats, wall = asyncio.run(
            run_phase(
                "127.0.0.1",
                args.port,
                slug,
                args.n,
                None,
                think,
                ramp,
                1,
                media=args.media,
                keep_alive=not args.no_keep_alive,
                page_think=page_think,
            )
        )
        after = (tree_cpu_s(gunicorn.pid), tree_cpu_s(pg), sum(me.cpu_times()[:2]))
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        cpu = {
            "server": after[0] - before[0],
            "db": after[1] - before[1],
            "client": after[2] - before[2],
        }
        result = report(stats, wall, cpu, verify(env, stats.acked), args)
        result["machine"] = machine()
        result["load"] = {
            "think_s_per_item": think,
            "think_s_per_page": page_think,
            "arrivals_over_s": ramp,
            "keep_alive": not args.no_keep_alive,
            "workers": args.workers,
            "threads": args.threads,
        }
        print_report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
            err = (var / "gunicorn.log").read_text(errors="replace")
            if "Traceback" in err:
                print(err[-3000:])
        if private_pg:
            pg_private_stop()
        elif args.db == "postgres":
            pg_shared_drop(args.database_url, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
