"""Simulated participants over HTTP against gunicorn: throughput, latency, and exactly-once.

    python benchmarks/participants.py                       # PostgreSQL (DATABASE_URL or the local one)
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
import random
import re
import signal
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- a small HTTP/1.1 client (asyncio streams, one connection per request) ----------------------


class Browser:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout
        )
        try:
            head = [
                f"{method} {path} HTTP/1.1",
                f"Host: {self.host}:{self.port}",
                "Connection: close",
                "User-Agent: musiscene-bench/1",
                f"Content-Length: {len(body)}",
            ]
            if self.cookies:
                head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            for k, v in (headers or {}).items():
                head.append(f"{k}: {v}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(-1), timeout)
        finally:
            writer.close()
        header_blob, _, payload = raw.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "set-cookie":
                cookie = value.strip().split(";")[0]
                k, _, v = cookie.partition("=")
                self.cookies[k] = v
            hdrs[name.lower()] = value.strip()
        return status, hdrs, payload

    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")


CONFIG_RE = re.compile(rb'<script id="trial-config" type="application/json">(.*?)</script>', re.S)
TOKEN_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Stats:
    def __init__(self):
        self.acked: dict[str, int] = {}  # participant code -> ratings acknowledged
        self.submit_latency: list[float] = []
        self.submit_times: list[float] = []
        self.errors: list[str] = []
        self.conflicts = 0
        self.completed = 0


async def patient(b: Browser, method: str, path: str, stats: Stats, *, attempts: int = 10, **kw):
    """A request retried on connection errors and 5xx with back-off, as the page does."""
    for attempt in range(attempts):
        try:
            status, headers, body = await b.request(method, path, **kw)
        except (OSError, TimeoutError, IndexError, ValueError) as exc:
            stats.errors.append(type(exc).__name__)
        else:
            if status < 500:
                return status, headers, body
            stats.errors.append(f"HTTP {status}")
        await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
    raise RuntimeError(f"{method} {path}: no answer after {attempts} attempts")


async def participant(
    host, port, slug, n_trials, think, stats: Stats, rng: random.Random, *, double_submit=0.0
):
    b = Browser(host, port)
    base = f"/s/{slug}/"
    status, _, page = await patient(b, "GET", base, stats)
    token = TOKEN_RE.search(page).group(1).decode()
    form = urlencode({"csrfmiddlewaretoken": token, "consent": "yes"}).encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": b.csrf()}
    status, _, _ = await patient(b, "POST", base, stats, body=form, headers=form_headers)
    assert status == 302, status
    code_cookie = next(k for k in b.cookies if k.startswith("msp_"))
    await patient(b, "GET", base + "run/", stats)
    for stage in ("instructions", "practice"):
        body = urlencode({"csrfmiddlewaretoken": b.csrf(), "stage": stage}).encode()
        await patient(b, "POST", base + "run/advance/", stats, body=body, headers=form_headers)
    for _ in range(n_trials):
        status, _, page = await patient(b, "GET", base + "run/", stats)
        m = CONFIG_RE.search(page)
        if not m:
            break
        cfg = json.loads(m.group(1))
        if think:
            await asyncio.sleep(rng.uniform(0.75 * think, 1.25 * think))
        payload = {
            "index": cfg["index"],
            "submission_id": str(uuid.uuid4()),
            "events": [{"type": "switch", "t": 0}],
            "ratings": [
                {
                    "label": t["label"],
                    "value": rng.randint(0, 100),
                    "moved": True,
                    "listening_s": t["required_s"],
                }
                for t in cfg["tracks"]
            ],
        }
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-CSRFToken": b.csrf()}

        async def send(data: bytes = data, headers: dict = headers) -> str:
            """Resend the same submission (same id) until the server answers it, as the page does."""
            for attempt in range(12):
                t0 = time.perf_counter()
                try:
                    status, _, resp = await b.request(
                        "POST", base + "run/submit/", body=data, headers=headers
                    )
                except (OSError, TimeoutError, IndexError, ValueError) as exc:
                    stats.errors.append(type(exc).__name__)
                    await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
                    continue
                stats.submit_latency.append(time.perf_counter() - t0)
                if status == 200:
                    return json.loads(resp)["status"]  # "stored", or "duplicate" for a resend
                if status == 409:  # the other copy of a double submit was stored first
                    stats.conflicts += 1
                    return "conflict"
                stats.errors.append(f"HTTP {status}")
                await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
            return "gave up"

        double = (
            bool(double_submit) and rng.random() < double_submit
        )  # a double click: two copies at once
        answers = await asyncio.gather(send(), send()) if double else [await send()]
        if any(a in ("stored", "duplicate") for a in answers):
            code = (
                b.cookies[code_cookie].strip('"').split(":")[0]
            )  # the signed cookie is "code:signature"
            stats.acked[code] = stats.acked.get(code, 0) + len(cfg["tracks"])
            stats.submit_times.append(time.perf_counter())


async def run_phase(
    host, port, slug, n, trials, think, ramp, seed, *, double_submit=0.0
) -> tuple[Stats, float]:
    stats = Stats()
    rng = random.Random(seed)

    async def delayed(i):
        await asyncio.sleep(ramp * i / max(n, 1))
        await participant(
            host,
            port,
            slug,
            trials,
            think,
            stats,
            random.Random(rng.random()),
            double_submit=double_submit,
        )
        stats.completed += 1

    t0 = time.perf_counter()
    results = await asyncio.gather(*(delayed(i) for i in range(n)), return_exceptions=True)
    for r in results:
        if isinstance(r, Exception):
            tb = traceback.extract_tb(r.__traceback__)
            where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
            stats.errors.append("aborted " + repr(r)[:200] + where)
    return stats, time.perf_counter() - t0


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
path = media.write_video(frames, 10, tmp / "c.mp4", audio=(0.3*np.sin(2*np.pi*300*t)).astype(np.float32), sample_rate=32000)
conds = services.conditions_ensure_paper()
first = services.clip_import(path=path, key="bench-000")
track = services.track_create(clip=first, condition=conds[0], samples=(0.3*np.sin(2*np.pi*440*t)).astype(np.float32),
                              sample_rate=32000, generator="bench", loudness_target_lufs=-23.0)
for i in range({n_clips}):
    clip = first if i == 0 else Clip.objects.create(key=f"bench-{{i:03d}}", video=first.video, duration_s=first.duration_s,
                                                      width=first.width, height=first.height)
    for c in conds:
        if clip.pk == track.clip_id and c.pk == track.condition_id:
            continue
        Track.objects.create(clip=clip, condition=c, audio=track.audio, video=track.video, duration_s=track.duration_s,
                             sample_rate=32000, loudness_lufs=track.loudness_lufs, loudness_target_lufs=-23.0,
                             gain_db=0, generator="bench", params_hash=f"b{{clip.pk}}-{{c.pk}}")
study = Study.objects.create(title="Bench", slug="bench", min_listen_s=1.0, target_per_form=100000)
f1 = ss.form_create(study=study, name="form1", n_videos=15, conditions=[c for c in conds if c.name in ("video_caps","music_caps","msi")])
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
stored = dict(Participant.objects.filter(code__in=list(acked)).annotate(n=Count("ratings")).values_list("code", "n"))
dups = Rating.objects.values("participant", "track").annotate(n=Count("id")).filter(n__gt=1).count()
lost = sum(max(0, a - stored.get(c, 0)) for c, a in acked.items())
extra = sum(max(0, stored.get(c, 0) - a) for c, a in acked.items())
print(json.dumps({"participants": len(acked), "acknowledged": sum(acked.values()), "stored": sum(stored.values()),
                  "lost": lost, "unacknowledged_but_stored": extra, "duplicated": dups}))
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
            f"gunicorn: {args.workers} workers x {args.threads} threads; PostgreSQL; client on the same 2 cores"
        )

        sat, wall = asyncio.run(
            run_phase("127.0.0.1", args.port, slug, args.saturate, args.saturate_trials, 0, 0, 1)
        )
        times = sorted(sat.submit_times)
        lo, hi = pct(times, 10), pct(times, 90)  # the steady middle of the run
        steady = sum(1 for t in times if lo <= t <= hi) / (hi - lo) if hi > lo else float("nan")
        print(
            f"saturation: {args.saturate} participants x {args.saturate_trials} trials, {len(times)} submits in "
            f"{wall:.1f} s; steady rate {steady:.1f} trial submits/s ({3 * steady:.0f} ratings/s); "
            f"latency p50 {1000 * pct(sat.submit_latency, 50):.0f} ms, p99 {1000 * pct(sat.submit_latency, 99):.0f} ms;"
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
            f"crowd: {args.crowd} participants, ~{args.think:g} s per trial, {len(lat)} submits in {wall:.1f} s; "
            f"submit latency p50 {1000 * pct(lat, 50):.0f} ms, p95 {1000 * pct(lat, 95):.0f} ms, "
            f"p99 {1000 * pct(lat, 99):.0f} ms, max {1000 * max(lat, default=0):.0f} ms; client errors {len(crowd.errors)}"
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
