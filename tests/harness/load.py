"""Simulated participants over HTTP: a small HTTP/1.1 client and a participant that takes a live
study through the real pages the way the browser does (static/survey/*.js, templates/survey/):
entry with recruiter ids, consent, instructions, practice, the trials, the questionnaire and the
last page, following redirects as the browser does and resending a submit as the trial page does.

Where the submit's answer carries the next item (``next``), the participant stays on the page, as
the trial page does; otherwise it loads the next page. Media and static files are fetched only
with ``media=True`` (a proxy or a CDN serves them in production).

Used by the load benchmark (benchmarks/participants.py), the fault benchmark
(benchmarks/faults.py) and the server tests (tests/studyserver/)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import time
import traceback
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

# -- a small HTTP/1.1 client (asyncio streams) ------------------------------------------------


class Browser:
    def __init__(
        self,
        host: str,
        port: int,
        stats: Stats | None = None,
        *,
        source: str | None = None,
        agent: str = "",
        keep_alive: bool = False,
    ):
        """``source``: the local address to connect from (any of 127.0.0.0/8 on Linux), so that
        a proxy in front sees distinct clients; ``agent``: the User-Agent header;
        ``keep_alive``: one connection reused from request to request, as a browser does
        (otherwise a new connection per request)."""
        self.host, self.port = host, port
        self.source, self.agent = source, agent or "musiscene-bench/1"
        self.cookies: dict[str, str] = {}
        self.stats = stats
        self.keep_alive = keep_alive
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _connect(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        local = (self.source, 0) if self.source else None
        return await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, local_addr=local), timeout
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        kind: str = "",
    ) -> tuple[int, dict[str, str], bytes]:
        t0 = time.perf_counter()
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Connection: keep-alive" if self.keep_alive else "Connection: close",
            f"User-Agent: {self.agent}",
            f"Content-Length: {len(body)}",
        ]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        if not self.keep_alive:
            reader, writer = await self._connect(timeout)
            try:
                writer.write(data)
                await writer.drain()
                raw = await asyncio.wait_for(reader.read(-1), timeout)
            finally:
                writer.close()
            header_blob, _, payload = raw.partition(b"\r\n\r\n")
        else:
            header_blob, payload = await self._exchange_kept(data, method, timeout)
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
        if self.stats is not None and kind:
            self.stats.record(kind, time.perf_counter() - t0, status, hdrs)
        return status, hdrs, payload

    async def _exchange_kept(self, data: bytes, method: str, timeout: float) -> tuple[bytes, bytes]:
        """One request on the kept connection. A kept connection the server closed meanwhile
        (its keep-alive timeout, a recycled worker) fails before any answer: the request goes
        again on a new connection, as a browser resends it."""
        for attempt in (0, 1):
            fresh = self._conn is None
            if fresh:
                self._conn = await self._connect(timeout)
            reader, writer = self._conn  # type: ignore[misc]
            try:
                writer.write(data)
                await writer.drain()
                blob = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh or attempt:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            try:
                header_blob = blob[:-4]
                fields = {}
                for line in header_blob.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip().lower()
                if method == "HEAD" or header_blob[9:12] in (b"204", b"304"):
                    payload = b""
                elif "chunked" in fields.get("transfer-encoding", ""):
                    payload = await asyncio.wait_for(_read_chunked(reader), timeout)
                elif "content-length" in fields:
                    n = int(fields["content-length"])
                    payload = await asyncio.wait_for(reader.readexactly(n), timeout)
                else:  # the answer ends with the connection
                    payload = await asyncio.wait_for(reader.read(-1), timeout)
                    fields["connection"] = "close"
            except BaseException:
                self.close()
                raise
            if fields.get("connection") == "close":
                self.close()
            return header_blob, payload
        raise ConnectionError("unreachable")

    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


CONFIG_RE = re.compile(rb'<script id="trial-config" type="application/json">(.*?)</script>', re.S)
TOKEN_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
ASSET_RE = re.compile(rb'(?:src|href)="(/static/[^"]+)"')
SERVER_CPU_RE = re.compile(r"cpu;dur=([0-9.]+)")


class Stats:
    def __init__(self):
        self.acked: dict[str, int] = {}  # participant code -> ratings acknowledged
        self.submit_latency: list[float] = []
        self.submit_times: list[float] = []
        self.errors: list[str] = []
        self.conflicts = 0
        self.completed = 0
        self.finished = 0  # participants who reached the last page with their code
        self.latency: dict[str, list[float]] = defaultdict(list)  # request kind -> seconds
        self.server_cpu_ms: dict[str, list[float]] = defaultdict(list)  # from Server-Timing
        self.statuses: dict[int, int] = defaultdict(int)
        self.requests = 0
        self.answered_at: list[float] = []  # perf_counter() of every answer
        self.log: list[tuple[float, str, float, int]] = []  # (answered at, kind, seconds, status)
        self.trials = 0  # rating items acknowledged

    def record(self, kind: str, seconds: float, status: int, headers: dict[str, str]) -> None:
        self.requests += 1
        self.answered_at.append(time.perf_counter())
        self.log.append((time.perf_counter(), kind, round(seconds, 3), status))
        self.latency[kind].append(seconds)
        self.statuses[status] += 1
        m = SERVER_CPU_RE.search(headers.get("server-timing", ""))
        if m:
            self.server_cpu_ms[kind].append(float(m.group(1)))


async def patient(
    b: Browser, method: str, path: str, stats: Stats, *, attempts: int = 10, kind: str = "", **kw
):
    """A request retried on connection errors, 429 and 5xx with back-off, as a person reloads."""
    for attempt in range(attempts):
        try:
            status, headers, body = await b.request(method, path, kind=kind, **kw)
        except (OSError, TimeoutError, IndexError, ValueError) as exc:
            stats.errors.append(f"{kind or path}: {type(exc).__name__}")
        else:
            if status < 500 and status != 429:
                return status, headers, body
            stats.errors.append(f"{kind or path}: HTTP {status}")
        await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
    raise RuntimeError(f"{method} {path}: no answer after {attempts} attempts")


def _path(location: str) -> str:
    """The path of a redirect's Location (absolute or not)."""
    if "://" in location:
        location = "/" + location.split("://", 1)[1].partition("/")[2]
    return location


def _page_kind(page: bytes) -> str:
    if b'id="trial-config"' in page:
        return "page_trial"
    return "page_other"


class Participant:
    """One browser's way through a live study."""

    def __init__(
        self,
        host,
        port,
        slug,
        stats: Stats,
        rng: random.Random,
        *,
        media=False,
        keep_alive=False,
        page_think=0.0,
    ):
        """``page_think``: seconds (mean) spent reading the consent, the instructions and the
        questionnaire before answering (the items' time is ``run``'s ``think``)."""
        self.b = Browser(host, port, stats, keep_alive=keep_alive)
        self.page_think = page_think
        self.base = f"/s/{slug}/"
        self.stats, self.rng, self.media = stats, rng, media
        self.assets_seen: set[str] = set()

    async def get_page(self, path: str, kind: str = "page") -> bytes:
        """A page as the browser loads it: redirects followed, its assets fetched (once)."""
        for _ in range(5):
            status, headers, body = await patient(self.b, "GET", path, self.stats, kind=kind)
            if status in (301, 302, 303):
                path = _path(headers["location"])
                continue
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}")
            if self.media:
                await self.fetch_assets(body)
            return body
        raise RuntimeError(f"GET {path}: too many redirects")

    async def fetch_assets(self, page: bytes) -> None:
        for m in ASSET_RE.finditer(page):
            url = m.group(1).decode()
            if url not in self.assets_seen:  # the browser's cache keeps them after the first
                self.assets_seen.add(url)
                await patient(self.b, "GET", url, self.stats, kind="static")

    async def fetch_media(self, cfg: dict) -> None:
        if not self.media:
            return
        urls = [cfg["video_url"]] + [t["audio_url"] for t in cfg["tracks"]]
        await asyncio.gather(
            *(patient(self.b, "GET", u, self.stats, kind="media") for u in urls if u)
        )

    async def post_form(self, path: str, fields: dict, kind: str) -> bytes:
        """A form POST; the browser follows the redirect to the next page."""
        body = urlencode({"csrfmiddlewaretoken": self.b.csrf(), **fields}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, hdrs, page = await patient(
            self.b, "POST", path, self.stats, body=body, headers=headers, kind=kind
        )
        if status in (301, 302, 303):
            return await self.get_page(_path(hdrs["location"]), _kind_of_next(kind))
        if status != 200:
            raise RuntimeError(f"POST {path}: HTTP {status}")
        return page

    async def fetch_post(self, path: str, fields: dict, kind: str) -> None:
        """``advanceUntilDone`` of static/survey/submit.js: fetch() POSTs and takes the
        redirect as the answer (``redirect: "manual"``: the page then loads the next page)."""
        body = urlencode(fields).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRFToken": self.b.csrf(),
        }
        await patient(self.b, "POST", path, self.stats, body=body, headers=headers, kind=kind)

    def code(self) -> str:
        name = next(k for k in self.b.cookies if k.startswith("msp_"))
        return self.b.cookies[name].strip('"').split(":")[0]  # signed cookie "code:signature"

    async def start(self) -> bytes:
        """Entry with Prolific's ids, consent; returns the instructions page."""
        pid = secrets.token_hex(12)
        query = urlencode({"PROLIFIC_PID": pid, "STUDY_ID": "bench", "SESSION_ID": pid[:12]})
        page = await self.get_page(f"{self.base}?{query}", "entry")
        token = TOKEN_RE.search(page)
        if token is None:
            raise RuntimeError("no consent form: " + page[:200].decode(errors="replace"))
        fields = {"PROLIFIC_PID": pid, "STUDY_ID": "bench", "SESSION_ID": pid[:12]}
        await self.think(self.page_think)  # reading the consent
        return await self.post_form(self.base, {**fields, "consent": "yes"}, "consent")

    async def to_trials(self, think: float) -> bytes:
        """Instructions (a form), then the practice item (the trial page, advanced by fetch);
        returns the first trial's page."""
        page = await self.start()
        await self.think(self.page_think)  # reading the instructions
        page = await self.post_form(
            self.base + "run/advance/", {"stage": "instructions"}, "advance"
        )
        m = CONFIG_RE.search(page)
        if m is not None:  # the practice item
            await self.fetch_media(json.loads(m.group(1)))
            await self.think(think)
            await self.fetch_post(self.base + "run/advance/", {"stage": "practice"}, "advance")
            page = await self.get_page(self.base + "run/", "page_trial")
        return page

    async def think(self, think: float) -> None:
        if think:
            await asyncio.sleep(self.rng.uniform(0.75 * think, 1.25 * think))

    async def submit(self, cfg: dict, sid: str | None = None) -> dict | None:
        """``sendUntilStored``: the same submission until the server says it is stored (its
        answer), or None when the server refused it as stale (409)."""
        payload = {
            "index": cfg["index"],
            "submission_id": sid or str(uuid.uuid4()),
            "events": [{"type": "switch", "t": int(time.time() * 1000), "track": 0}],
            "ratings": [
                {
                    "label": t["label"],
                    "value": self.rng.randint(0, 100),
                    "moved": True,
                    "listening_s": t["required_s"],
                }
                for t in cfg["tracks"]
            ],
        }
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.b.csrf()}
        for attempt in range(12):
            t0 = time.perf_counter()
            try:
                status, _, resp = await self.b.request(
                    "POST", self.base + "run/submit/", body=data, headers=headers, kind="submit"
                )
            except (OSError, TimeoutError, IndexError, ValueError) as exc:
                self.stats.errors.append(f"submit: {type(exc).__name__}")
                await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
                continue
            self.stats.submit_latency.append(time.perf_counter() - t0)
            answer = json.loads(resp) if status in (200, 409) else {}
            if status == 200 and answer.get("status") in ("stored", "duplicate"):
                return answer
            if status == 409:  # the other copy of a double submit was stored first
                self.stats.conflicts += 1
                return None
            self.stats.errors.append(f"submit: HTTP {status}")
            await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
        raise RuntimeError("submit: no answer after 12 attempts")

    def acknowledged(self, cfg: dict, answers: list[dict | None]) -> None:
        """Count an item whose submit the server acknowledged (once, whatever the copies)."""
        if any(a and a.get("status") in ("stored", "duplicate") for a in answers):
            self.stats.submit_times.append(time.perf_counter())
            if cfg.get("mode") != "attention":
                code = self.code()
                self.stats.acked[code] = self.stats.acked.get(code, 0) + len(cfg["tracks"])
                self.stats.trials += 1

    async def run(self, n_trials: int | None, think: float) -> None:
        """Through the study; ``n_trials`` items only (None: all, the questionnaire and the
        last page)."""
        page = await self.to_trials(think)
        done = 0
        while n_trials is None or done < n_trials:
            m = CONFIG_RE.search(page)
            if m is None:
                break
            cfg = json.loads(m.group(1))
            while True:
                await self.fetch_media(cfg)
                await self.think(think)
                answer = await self.submit(cfg)
                self.acknowledged(cfg, [answer])
                done += 1
                nxt = (answer or {}).get("next")
                if not nxt or (n_trials is not None and done >= n_trials):
                    break
                cfg = nxt  # the trial page shows the next item in place
            if n_trials is not None and done >= n_trials:
                return
            page = await self.get_page(self.base + "run/", "page_trial")
        if b'action="' + self.base.encode() + b'run/questionnaire/"' not in page:
            raise RuntimeError("no questionnaire after the trials: " + page[:300].decode("latin-1"))
        answers = {"age_range": "25-34", "device": "headphones", "music_training": "some"}
        await self.think(self.page_think)  # answering the questionnaire
        page = await self.post_form(self.base + "run/questionnaire/", answers, "questionnaire")
        if b"data-code" not in page:
            raise RuntimeError("no completion code on the last page")
        self.stats.finished += 1


def _kind_of_next(kind: str) -> str:
    return {"consent": "page_other", "advance": "page_trial", "questionnaire": "page_other"}.get(
        kind, "page_other"
    )


async def participant(
    host, port, slug, n_trials, think, stats: Stats, rng: random.Random, *, double_submit=0.0
):
    """A participant who takes ``n_trials`` items (resending each as the page does; with
    ``double_submit``, that share of submits goes twice at once, as a double click)."""
    p = Participant(host, port, slug, stats, rng)
    if not double_submit:
        await p.run(n_trials, think)
        return
    page = await p.to_trials(think)
    for _ in range(n_trials):
        m = CONFIG_RE.search(page)
        if not m:
            break
        cfg = json.loads(m.group(1))
        await p.think(think)
        if rng.random() < double_submit:  # two copies of one submission at once
            sid = str(uuid.uuid4())
            answers = await asyncio.gather(p.submit(cfg, sid), p.submit(cfg, sid))
        else:
            answers = [await p.submit(cfg)]
        p.acknowledged(cfg, list(answers))
        page = await p.get_page(p.base + "run/", "page_trial")


async def run_phase(
    host,
    port,
    slug,
    n,
    trials,
    think,
    ramp,
    seed,
    *,
    double_submit=0.0,
    media=False,
    keep_alive=False,
    page_think=0.0,
) -> tuple[Stats, float]:
    """``n`` participants arriving evenly over ``ramp`` seconds, each taking ``trials`` items
    (None: the whole study) with ``think`` seconds (mean) per item and ``page_think`` per page
    read (consent, instructions, questionnaire); with ``keep_alive``, each participant's browser
    keeps its connection from request to request."""
    stats = Stats()
    rng = random.Random(seed)

    async def delayed(i):
        await asyncio.sleep(ramp * i / max(n, 1))
        r = random.Random(rng.random())
        if double_submit:
            await participant(
                host, port, slug, trials, think, stats, r, double_submit=double_submit
            )
        else:
            p = Participant(
                host,
                port,
                slug,
                stats,
                r,
                media=media,
                keep_alive=keep_alive,
                page_think=page_think,
            )
            try:
                await p.run(trials, think)
            finally:
                p.b.close()
        stats.completed += 1

    t0 = time.perf_counter()
    results = await asyncio.gather(*(delayed(i) for i in range(n)), return_exceptions=True)
    for r in results:
        if isinstance(r, Exception):
            tb = traceback.extract_tb(r.__traceback__)
            where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
            stats.errors.append("aborted " + repr(r)[:200] + where)
    return stats, time.perf_counter() - t0
