"""Bots against a live study behind the documented proxy setup: how many complete it per minute.

    python benchmarks/botfill.py                  # PostgreSQL (DATABASE_URL) + Redis (CACHE_URL)
    python benchmarks/botfill.py --seconds 180 --bots 20 --real 8

The production setup of docs/how-to/ops/one-host.md on this machine: gunicorn with the project's
config, DEBUG off, BEHIND_PROXY=1, rate-limit counts in Redis, PostgreSQL, and nginx in front
with deploy/nginx.conf (its `location /` block as written; plain HTTP on a local port instead of
TLS). Clients connect to nginx from addresses of their own in 127.0.0.0/8, so nginx appends a
real, distinct client address to X-Forwarded-For, as it would on the internet.

The bots are the fastest plausible scripted attacker: they read every page, answer attention
checks right, and pace their claims to what the server accepts. Half of them (``bound``) wait
per item only as long as the server's listening bound needs (each track's claim within the time
the item has been on screen), the other half (``unflagged``) as long as the timing flag needs
(the tracks one after the other, as a person hears them), so they are not flagged either.

- one address: every bot from 127.0.0.66, each also sending an X-Forwarded-For prefix of its own
  choosing (which the server ignores);
- many addresses: every start from a fresh address (a bot farm), while ``--real`` simulated people
  at a human pace arrive from their own addresses, wait and retry when the page says the study is
  busy (as it asks), and take the study.

Only what the database confirms is counted: participants created, completed, and flagged for an
impossible pace (``survey.privacy.timing_flag``), per kind of client (each carries its kind in
STUDY_ID). Completed per minute is completions over the minutes during which starts were tried.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.participants import seed  # noqa: E402
from tests.harness.gunicorn import Gunicorn  # noqa: E402
from tests.harness.load import CONFIG_RE, TOKEN_RE, Browser  # noqa: E402

# The server's bounds (survey.participation): a track counts when its claimed listening is at
# least its required seconds less LISTEN_TOLERANCE_S, and no claim may pass the time the item has
# been shown plus LISTEN_ELAPSED_TOLERANCE_S. The timing flag (survey.privacy) wants a trial to
# last at least half the required audio and the listening sum less its slack.
LISTEN_TOLERANCE_S, LISTEN_ELAPSED_TOLERANCE_S = 0.5, 1.0
FLAG_SHARE, FLAG_SLACK_S = 0.5, 2.0
BOT_AGENT, HUMAN_AGENT = "botfill-bot/1", "Mozilla/5.0 (botfill simulated person)"


def item_plan(cfg: dict, kind: str, rng: random.Random) -> tuple[float, list[dict]]:
    """How long to stay on this item before submitting, and the ratings to send."""
    tracks, attention = cfg["tracks"], cfg.get("mode") == "attention"
    floor = float(cfg.get("min_trial_s") or 0)
    if kind == "human":
        heard = [t["required_s"] + rng.uniform(0.3, 1.5) for t in tracks]
        wait = sum(heard) + rng.uniform(2.0, 6.0)
        values = [0 if attention else rng.randint(20, 90) for _ in tracks]
    elif kind == "bound":
        heard = [max(0.0, t["required_s"] - 0.4) for t in tracks]
        wait = max(heard, default=0.0) - LISTEN_ELAPSED_TOLERANCE_S + 0.2
        values = [0 if attention else 100 for _ in tracks]
    else:  # unflagged
        heard = [float(t["required_s"]) for t in tracks]
        total = sum(heard)
        wait = max(FLAG_SHARE * total, total - FLAG_SLACK_S) + 0.3
        values = [0 if attention else 100 for _ in tracks]
    ratings = [
        {"label": t["label"], "value": v, "moved": True, "listening_s": round(h, 2)}
        for t, v, h in zip(tracks, values, heard, strict=True)
    ]
    return max(wait, floor + 0.1, 0.0), ratings


async def start(b: Browser, slug: str, marker: str, xff: dict) -> int:
    """Entry page and consent; the consent POST's status (302: admitted, 429: busy)."""
    query = {"PROLIFIC_PID": secrets.token_hex(12), "STUDY_ID": marker}
    status, _, page = await b.request("GET", f"/s/{slug}/?{urlencode(query)}", headers=xff)
    m = TOKEN_RE.search(page)
    if status != 200 or not m:
        return status
    form = urlencode({**query, "csrfmiddlewaretoken": m.group(1).decode(), "consent": "yes"})
    headers = {**xff, "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": b.csrf()}
    status, _, _ = await b.request("POST", f"/s/{slug}/", body=form.encode(), headers=headers)
    return status


async def take(b: Browser, slug: str, kind: str, xff: dict, rng: random.Random) -> bool:
    """Through every item at the pace of ``kind``; True when the questionnaire was accepted."""
    form = {**xff, "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": b.csrf()}
    for stage in ("instructions", "practice"):
        body = urlencode({"csrfmiddlewaretoken": b.csrf(), "stage": stage}).encode()
        await b.request("POST", f"/s/{slug}/run/advance/", body=body, headers=form)
    for _ in range(200):
        _, _, page = await b.request("GET", f"/s/{slug}/run/", headers=xff)
        m = CONFIG_RE.search(page)
        if not m:
            break
        cfg = json.loads(m.group(1))
        wait, ratings = item_plan(cfg, kind, rng)
        await asyncio.sleep(wait)
        payload = {"index": cfg["index"], "submission_id": str(uuid.uuid4()), "events": []}
        headers = {**xff, "Content-Type": "application/json", "X-CSRFToken": b.csrf()}
        body = json.dumps({**payload, "ratings": ratings}).encode()
        status, _, _ = await b.request("POST", f"/s/{slug}/run/submit/", body=body, headers=headers)
        if status != 200:
            return False
    body = urlencode(
        {"csrfmiddlewaretoken": b.csrf(), "age_range": "25-34", "device": "headphones"}
    ).encode()
    status, _, _ = await b.request("POST", f"/s/{slug}/run/questionnaire/", body=body, headers=form)
    return status == 302


class Counts:
    def __init__(self):
        self.tries = self.admitted = self.busy = self.believed_completed = 0
        self.errors: dict[str, int] = {}


async def bot_phase(host, port, slug, *, seconds: float, bots: int, many: bool) -> dict:
    """``bots`` concurrent scripted clients trying to start (and then take) the study for
    ``seconds``; half pace to the server's bound, half to the timing flag."""
    counts = {"bound": Counts(), "unflagged": Counts()}
    deadline = time.perf_counter() + seconds
    name = "many" if many else "one"

    async def bot(i: int):
        kind = "bound" if i % 2 == 0 else "unflagged"
        c, rng, n = counts[kind], random.Random(i), 0
        while time.perf_counter() < deadline:
            n += 1
            if many:  # a fresh address for every start
                source, xff = f"127.{1 + i % 120}.{n // 250 % 250}.{1 + n % 250}", {}
            else:  # one address, and a prefix of its own choosing in X-Forwarded-For
                source, xff = "127.0.0.66", {"X-Forwarded-For": f"10.{i}.{n % 250}.1"}
            b = Browser(host, port, source=source, agent=BOT_AGENT)
            c.tries += 1
            try:
                status = await start(b, slug, f"bot-{name}-{kind}", xff)
                if status == 302:
                    c.admitted += 1
                    done = await take(b, slug, kind, xff, rng)  # (not `+= await`: it
                    c.believed_completed += done  # would add to a count read before the wait)
                    continue
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                c.errors[type(exc).__name__] = c.errors.get(type(exc).__name__, 0) + 1
                status = 0
            c.busy += status == 429
            await asyncio.sleep(0.5)

    await asyncio.gather(*(bot(i) for i in range(bots)))
    return {k: vars(c) for k, c in counts.items()}


async def people(host, port, slug, *, n: int, seconds: float, retry_s: float) -> dict:
    """``n`` people arriving over ``seconds``; each retries up to 6 times when busy."""
    waits: list[float] = []
    tries: list[int] = []

    async def person(i: int):
        rng = random.Random(1000 + i)
        await asyncio.sleep(i * seconds / max(n, 1))
        t0 = time.perf_counter()
        for attempt in range(1, 7):
            b = Browser(host, port, source=f"127.200.0.{1 + i}", agent=HUMAN_AGENT)
            status = await start(b, slug, "human", {})
            if status == 302:
                waits.append(time.perf_counter() - t0)
                tries.append(attempt)
                await take(b, slug, "human", {}, rng)
                return
            await asyncio.sleep(retry_s * rng.uniform(0.8, 1.2))

    await asyncio.gather(*(person(i) for i in range(n)))
    return {
        "arrived": n,
        "admitted_client_side": len(waits),
        "max_wait_to_start_s": round(max(waits, default=0.0), 1),
        "max_tries": max(tries, default=0),
    }


def confirmed(env: dict[str, str]) -> dict:
    """Per kind of client (STUDY_ID): participants created, completed, flagged, in the database."""
    code = """
import django, json
django.setup()
from django.db.models import Count, Q
from survey.models import Participant
rows = Participant.objects.values("external_study_id").annotate(
    started=Count("id"),
    completed=Count("id", filter=Q(status="completed")),
    flagged=Count("id", filter=Q(status="completed") & ~Q(timing_flag="")),
    screened_out=Count("id", filter=Q(status="screened_out")),
)
print(json.dumps({r.pop("external_study_id"): r for r in rows}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def setup_database(url: str) -> str:
    """A fresh database of its own (``<name>_botfill``) on the server of ``url``."""
    import psycopg

    base, _, name = url.rpartition("/")
    bench = re.sub(r"[^a-z0-9_]", "_", name.lower()) + "_botfill"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {bench} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {bench}")
    return f"{base}/{bench}"


def nginx_config(folder: Path, *, port: int, upstream: int, static: Path, media: Path) -> Path:
    """deploy/nginx.conf as written, but listening in plain HTTP on ``port`` of 127.0.0.1 (no
    redirect server, no TLS) in front of gunicorn on ``upstream``, with paths under ``folder``."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    text = re.sub(r"    server \{\n        listen 80;.*?\n    \}\n\n", "", text, flags=re.S)
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    text = re.sub(r"\n *ssl_[a-z_]+ [^\n]*", "", text)
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")
    text = text.replace("/srv/musiscene/static/", f"{static}/")
    text = text.replace("/srv/musiscene/media/", f"{media}/")
    text = text.replace("/tmp/musiscene-nginx", str(folder / "nginx"))
    text = text.replace("error_log stderr warn;", f"error_log {folder}/nginx-error.log warn;")
    assert "ssl" not in text and f"127.0.0.1:{upstream}" in text, "deploy/nginx.conf changed"
    conf = folder / "nginx.conf"
    conf.write_text(text)
    return conf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--cache-url", default=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/7")
    )
    parser.add_argument("--port", type=int, default=8767, help="nginx's port")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each bot phase")
    parser.add_argument("--bots", type=int, default=20, help="concurrent scripted clients")
    parser.add_argument("--real", type=int, default=8, help="people arriving in phase 2")
    parser.add_argument("--retry-s", type=float, default=45.0, help="a person's wait when busy")
    args = parser.parse_args()

    bench_url = setup_database(args.database_url)
    var = Path(tempfile.mkdtemp(prefix="musiscene-botfill-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "DATABASE_URL": bench_url,
        "CACHE_URL": args.cache_url,
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DEBUG": "0",
        "SECURE": "0",
        "BEHIND_PROXY": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": str(var),
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESSLOG": "",
        "RATELIMIT_ENABLED": "1",
        "MEDIA_ACCEL_REDIRECT_PREFIX": "/protected-media/",
    }
    for name in list(env):  # the site's defaults for every limit, whatever this shell has
        if name.startswith("RATELIMIT_") and name != "RATELIMIT_ENABLED":
            env.pop(name)
    flush = "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()"
    subprocess.run([sys.executable, "-c", flush, args.cache_url], check=True)
    slug = seed(env, 16)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    upstream = args.port + 1
    server = Gunicorn(env, upstream, workers=2, threads=8)
    server.start()
    conf = nginx_config(
        var, port=args.port, upstream=upstream, static=var / "static", media=var / "media"
    )
    nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-g", "daemon off;"], start_new_session=True, cwd=var
    )
    time.sleep(1.0)
    host, port = "127.0.0.1", args.port
    t_cpu = os.times()
    try:
        print(json.dumps({"load_average_at_start": os.getloadavg()}), flush=True)
        one = asyncio.run(
            bot_phase(host, port, slug, seconds=args.seconds, bots=args.bots, many=False)
        )
        load_one = os.getloadavg()
        subprocess.run([sys.executable, "-c", flush, args.cache_url], check=True)

        async def farm_and_people():
            return await asyncio.gather(
                bot_phase(host, port, slug, seconds=args.seconds, bots=args.bots, many=True),
                people(host, port, slug, n=args.real, seconds=args.seconds, retry_s=args.retry_s),
            )

        many, real = asyncio.run(farm_and_people())
        load_many = os.getloadavg()
    finally:
        os.killpg(nginx.pid, signal.SIGQUIT)
        nginx.wait(10)
        server.stop()
    db = confirmed(env)
    minutes = args.seconds / 60
    for phase, clients, load in (
        ("one address", one, load_one),
        ("many addresses", many, load_many),
    ):
        name = "one" if phase == "one address" else "many"
        row: dict = {"phase": phase, "minutes": round(minutes, 2), "load_average": load}
        for kind, c in clients.items():
            d = db.get(f"bot-{name}-{kind}", {"started": 0, "completed": 0, "flagged": 0})
            row[kind] = {
                "start_tries": c["tries"],
                "refused_busy": c["busy"],
                "admitted": d["started"],
                "completed": d["completed"],
                "flagged": d["flagged"],
                "completed_per_min": round(d["completed"] / minutes, 2),
                "client_believed_completed": c["believed_completed"],
                "client_errors": c["errors"],
            }
        both = [db.get(f"bot-{name}-{k}", {}).get("completed", 0) for k in clients]
        row["bots_completed_per_min"] = round(sum(both) / minutes, 2)
        if name == "many":
            h = db.get("human", {"started": 0, "completed": 0, "flagged": 0})
            row["people"] = {**real, "admitted": h["started"], "completed": h["completed"]}
            row["people"]["flagged"] = h["flagged"]
        print(json.dumps(row), flush=True)
    cpu = os.times()
    print(
        json.dumps({"client_cpu_s": round(cpu.user + cpu.system - t_cpu.user - t_cpu.system, 1)}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
