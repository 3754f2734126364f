"""Bots against a live study behind the documented proxy setup: how many get in per minute.

    python benchmarks/botfill.py                     # PostgreSQL (DATABASE_URL) + Redis (CACHE_URL)
    python benchmarks/botfill.py --seconds 60 --bots 40 --real 10

gunicorn with the project's config, DEBUG off, BEHIND_PROXY=1 and the rate-limit counts in Redis,
as docs/how-to/ops/one-host.md sets it up; the proxy is played by the client, which sends the
X-Forwarded-For header nginx would append. Scripted participants start the study as fast as they
can (entry page, consent POST) and then rush through every trial:

- one address: every bot behind one X-Forwarded-For address;
- many addresses: every start from a fresh address (a bot farm);
- real participants: ``--real`` people from their own addresses arrive during the bot farm, one
  every few seconds, and retry once a minute when told the study is busy, as the page asks.

It prints the starts admitted per minute in each phase (the bound is the per-address limit and
the study's cap on starts per minute), the bots that completed, the flags their pace earned, and
how many real participants were admitted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.participants import seed  # noqa: E402
from tests.harness.gunicorn import Gunicorn  # noqa: E402
from tests.harness.load import CONFIG_RE, TOKEN_RE, Browser  # noqa: E402


async def start(host, port, slug, address: str) -> tuple[int, Browser]:
    """Entry page and consent, from ``address``; the consent POST's status (302 = admitted)."""
    b = Browser(host, port)
    xff = {"X-Forwarded-For": address}
    status, _, page = await b.request("GET", f"/s/{slug}/", headers=xff)
    m = TOKEN_RE.search(page)
    if status != 200 or not m:
        return status, b
    form = urlencode({"csrfmiddlewaretoken": m.group(1).decode(), "consent": "yes"}).encode()
    headers = {**xff, "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": b.csrf()}
    status, _, _ = await b.request("POST", f"/s/{slug}/", body=form, headers=headers)
    return status, b


async def rush(b: Browser, host, port, slug, address: str) -> bool:
    """Through every trial at once, each track rated 100: True when the study was completed."""
    xff = {"X-Forwarded-For": address}
    form = {**xff, "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": b.csrf()}
    for stage in ("instructions", "practice"):
        body = urlencode({"csrfmiddlewaretoken": b.csrf(), "stage": stage}).encode()
        await b.request("POST", f"/s/{slug}/run/advance/", body=body, headers=form)
    for _ in range(100):
        status, _, page = await b.request("GET", f"/s/{slug}/run/", headers=xff)
        m = CONFIG_RE.search(page)
        if not m:
            break
        cfg = json.loads(m.group(1))
        payload = {
            "index": cfg["index"],
            "submission_id": str(uuid.uuid4()),
            "events": [],
            "ratings": [
                {"label": t["label"], "value": 100, "moved": True, "listening_s": t["required_s"]}
                for t in cfg["tracks"]
            ],
        }
        headers = {**xff, "Content-Type": "application/json", "X-CSRFToken": b.csrf()}
        status, _, _ = await b.request(
            "POST", f"/s/{slug}/run/submit/", body=json.dumps(payload).encode(), headers=headers
        )
        if status != 200:
            return False
    body = urlencode(
        {"csrfmiddlewaretoken": b.csrf(), "age_range": "25-34", "device": "headphones"}
    ).encode()
    status, _, _ = await b.request("POST", f"/s/{slug}/run/questionnaire/", body=body, headers=form)
    return status == 302


async def bot_phase(host, port, slug, *, seconds: float, bots: int, many: bool) -> dict:
    admitted = refused = completed = 0
    deadline = time.perf_counter() + seconds

    async def bot(i: int):
        nonlocal admitted, refused, completed
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            address = f"10.{i % 250}.{n // 250 % 250}.{n % 250 + 1}" if many else "203.0.113.66"
            try:
                status, b = await start(host, port, slug, address)
            except (OSError, TimeoutError, ValueError, IndexError):
                await asyncio.sleep(0.2)
                continue
            if status == 302:
                admitted += 1
                completed += await rush(b, host, port, slug, address)
            else:
                refused += 1
                await asyncio.sleep(0.05)

    t0 = time.perf_counter()
    await asyncio.gather(*(bot(i) for i in range(bots)))
    minutes = (time.perf_counter() - t0) / 60
    return {
        "admitted": admitted,
        "refused": refused,
        "completed": completed,
        "admitted_per_min": round(admitted / minutes, 1),
        "completed_per_min": round(completed / minutes, 1),
    }


async def real_people(host, port, slug, *, n: int, every: float, retry_s: float) -> dict:
    admitted, waits = 0, []

    async def person(i: int):
        nonlocal admitted
        await asyncio.sleep(i * every)
        t0 = time.perf_counter()
        for _attempt in range(4):
            status, _ = await start(host, port, slug, f"198.51.100.{i + 1}")
            if status == 302:
                admitted += 1
                waits.append(time.perf_counter() - t0)
                return
            await asyncio.sleep(retry_s)

    await asyncio.gather(*(person(i) for i in range(n)))
    return {"real": n, "real_admitted": admitted, "real_wait_s_max": round(max(waits or [0]), 1)}


def setup_database(url: str) -> str:
    """A fresh database of its own (``musiscene_botfill``) on the server of ``url``."""
    import psycopg

    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS musiscene_botfill WITH (FORCE)")
        conn.execute("CREATE DATABASE musiscene_botfill")
    return f"{base}/musiscene_botfill"


def flags(env: dict[str, str]) -> dict:
    code = """
import django, json
django.setup()
from survey.models import Participant
qs = Participant.objects.filter(status="completed")
flagged = qs.exclude(timing_flag="").count()
print(json.dumps({"completed": qs.count(), "flagged_impossible_timing": flagged}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--cache-url", default=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/7")
    )
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each bot phase")
    parser.add_argument("--bots", type=int, default=20, help="concurrent scripted clients")
    parser.add_argument("--real", type=int, default=8, help="real participants in phase 2")
    parser.add_argument("--study-cap", type=int, default=30, help="the study's starts per minute")
    args = parser.parse_args()

    bench_url = setup_database(args.database_url)
    var = Path("/tmp/musiscene-botfill")
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
        "RATELIMIT_STUDY_STARTS_PER_MIN": str(args.study_cap),
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()",
            args.cache_url,
        ],
        check=True,
    )
    slug = seed(env, 16)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = Gunicorn(env, args.port, workers=2, threads=8)
    server.start()
    host, port = "127.0.0.1", args.port
    try:
        one = asyncio.run(
            bot_phase(host, port, slug, seconds=args.seconds, bots=args.bots, many=False)
        )
        print(json.dumps({"phase": "one address", **one}), flush=True)

        async def farm_and_people():
            return await asyncio.gather(
                bot_phase(host, port, slug, seconds=args.seconds, bots=args.bots, many=True),
                real_people(
                    host,
                    port,
                    slug,
                    n=args.real,
                    every=args.seconds / max(args.real, 1) / 2,
                    retry_s=20.0,
                ),
            )

        many, real = asyncio.run(farm_and_people())
        print(json.dumps({"phase": "many addresses", **many, **real}), flush=True)
        print(json.dumps({"phase": "after", **flags(env)}), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
