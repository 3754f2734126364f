"""Simulated participants over HTTP against gunicorn: throughput, latency, and exactly-once.

    python benchmarks/participants.py                       # PostgreSQL (DATABASE_URL or the local
    one)
    python benchmarks/participants.py --saturate 120 --crowd 1000 --trials 3 --think 20

It creates a fresh database (``musiscene_bench`` on the server of DATABASE_URL), seeds a live
study with the paper's form 1 (15 videos x 3 tracks; all tracks share one real file, which the
load does not fetch: media is the proxy's job in production), starts gunicorn with the project's
config, and drives participants through the real pages: entry, consent (CSRF form), instructions,
practice, then trials (GET the trial page, POST the ratings as JSON with the CSRF header).

Two phases:
- saturation: N participants with no think time; trial submits per second (3 ratings each);
- crowd: M participants arriving over ``--ramp`` seconds, ~``--think`` s per trial; submit latency.
Afterwards the database is checked: every acknowledged submit stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.load import Browser, run_phase  # noqa: E402  (the load client, shared with tests)

# -- set-up -------------------------------------------------------------------------------------


def setup_database(url: str) -> str:
    import psycopg

    base, _, _ = url.rpartition("/")
    bench_url = f"{base}/musiscene_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS musiscene_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE musiscene_bench")
    return bench_url


def seed(env: dict[str, str], n_clips: int) -> str:
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
study = Study.objects.create(title="Bench", slug="bench", min_listen_s=1.0, target_per_form=100000)
form_conditions = [c for c in conds if c.name in ("video_caps", "music_caps", "msi")]
f1 = ss.form_create(study=study, name="form1", n_videos=15, conditions=form_conditions)
ss.form_sample_trials(form=f1, seed=1)
ss.study_go_live(study=study)
print("seeded")
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return "bench"


def verify(env: dict[str, str], acked: dict[str, int]) -> dict[str, int]:
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
                  "unacknowledged_but_stored": extra, "duplicated": dups}))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--saturate", type=int, default=120, help="participants with no think time")
    parser.add_argument("--saturate-trials", type=int, default=10)
    parser.add_argument("--crowd", type=int, default=1000, help="participants with think time")
    parser.add_argument("--trials", type=int, default=3, help="trials per crowd participant")
    parser.add_argument("--think", type=float, default=20.0, help="seconds per trial (mean)")
    parser.add_argument("--ramp", type=float, default=20.0, help="arrival spread of the crowd (s)")
    args = parser.parse_args()

    bench_url = setup_database(args.database_url)
    var = Path("/tmp/musiscene-bench")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "DATABASE_URL": bench_url,
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DEBUG": "0",
        "SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": str(var),
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESSLOG": "",
        "RATELIMIT_ENABLED": "0",
    }  # every simulated participant comes from 127.0.0.1
    slug = seed(env, 16)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
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
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                asyncio.run(Browser("127.0.0.1", args.port).request("GET", f"/s/{slug}/"))
                break
            except OSError:
                time.sleep(0.2)
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads; PostgreSQL; client on "
            "the "
            "same 2 cores"
        )

        sat, wall = asyncio.run(
            run_phase("127.0.0.1", args.port, slug, args.saturate, args.saturate_trials, 0, 0, 1)
        )
        times = sorted(sat.submit_times)
        lo, hi = pct(times, 10), pct(times, 90)  # the steady middle of the run
        steady = sum(1 for t in times if lo <= t <= hi) / (hi - lo) if hi > lo else float("nan")
        print(
            f"saturation: {args.saturate} participants x {args.saturate_trials} trials, "
            f"{len(times)} submits in "
            f"{wall:.1f} s; steady rate {steady:.1f} trial submits/s ({3 * steady:.0f} ratings/s); "
            f"latency p50 {1000 * pct(sat.submit_latency, 50):.0f} ms, p99 "
            f"{1000 * pct(sat.submit_latency, 99):.0f} ms;"
            f" client errors {len(sat.errors)}"
        )
        print("  check:", verify(env, sat.acked))

        crowd, wall = asyncio.run(
            run_phase(
                "127.0.0.1", args.port, slug, args.crowd, args.trials, args.think, args.ramp, 2
            )
        )
        lat = crowd.submit_latency
        print(
            f"crowd: {args.crowd} participants, ~{args.think:g} s per trial, {len(lat)} submits in "
            f"{wall:.1f} s; "
            f"submit latency p50 {1000 * pct(lat, 50):.0f} ms, p95 {1000 * pct(lat, 95):.0f} ms, "
            f"p99 {1000 * pct(lat, 99):.0f} ms, max {1000 * max(lat, default=0):.0f} ms; client "
            f"errors {len(crowd.errors)}"
        )
        print("  check:", verify(env, crowd.acked))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(20)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
        err = gunicorn.stderr.read().decode()[-2000:] if gunicorn.stderr else ""
        if "Traceback" in err:
            print(err)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
