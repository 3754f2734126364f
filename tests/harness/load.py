"""Simulated participants over HTTP: a small HTTP/1.1 client and a participant that takes a live
study through the real pages (entry, consent, instructions, practice, trials), resending a
submission the way the trial page does. Used by the load benchmark (benchmarks/participants.py),
the fault benchmark (benchmarks/faults.py) and the fault tests (tests/studyserver/)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlencode

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
            """Resend the same submission (same id) until the server answers it, as the page
            does."""
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
