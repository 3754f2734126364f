"""oTree 6.0.15 (``otree prodserver``) serving the same 15 x 3 rating study, measured as
benchmarks/participants.py measures this project, so that the two can be run alternately on one
machine:

    python benchmarks/otree_baseline.py -n 50                 # PostgreSQL (a private cluster)
    python benchmarks/otree_baseline.py -n 50 --db sqlite     # oTree's default database
    python benchmarks/otree_baseline.py -n 5 --db sqlite --json var/otree.json

The oTree project is benchmarks/otree_study/ (one app, ``rating``: consent, instructions, a
practice item, 15 trial pages with 3 sliders 0-100 and a listening time per soundtrack, a
questionnaire, a completion page). oTree runs from its own virtualenv (``--venv``, default
var/otree-venv, made with pip on first use; never the project's), on a fresh database each run,
with ``OTREE_PRODUCTION=1``, an admin password and ``OTREE_AUTH_LEVEL=STUDY``.

Inside the measured window the session is created (through oTree's REST API: this is where
oTree makes its participants) and then the N participants arrive at once, each entering through
the session-wide link with a ``participant_label`` (what Prolific's ``PROLIFIC_PID`` becomes)
and doing what a browser does: every page GET, every form POST with the page's fields, every
redirect followed, the page's auto-advance websocket opened on each page (``--no-websocket``
leaves it out) and, with ``--static``, its scripts and style sheets once. Think time is 0 and
each browser keeps its connection (``--no-keep-alive``: a new one per request), as in
benchmarks/participants.py, whose HTTP client (tests/harness/load.py), CPU accounting,
PostgreSQL cluster and report this reuses.
Afterwards every acknowledged rating (a trial POST answered by a redirect to the next page) is
looked up in oTree's database with the value sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import participants as ours  # noqa: E402  (the same measurement)
from tests.harness.load import ASSET_RE, Browser, Stats, patient  # noqa: E402

OTREE_VERSION = "6.0.15"
STUDY = ROOT / "benchmarks" / "otree_study"
RUN_DIR = Path("/tmp/otree-bench")
# A cluster and a port of its own, so that this never stops a participants.py run's cluster.
ours.PG_DIR = Path("/tmp/otree-bench-pg")
ours.PG_PORT = 55433

HIDDEN_RE = re.compile(rb'<input type="hidden" name="([^"]+)"[^>]*?value="([^"]*)"')
SOCKET_RE = re.compile(rb'data-socket-url="([^"]+)"')
CODE_RE = re.compile(r"^/p/([a-z0-9]+)/")


# -- oTree's virtualenv ---------------------------------------------------------------------------


def otree_venv(path: Path) -> Path:
    """The virtualenv with oTree 6.0.15 (made with pip when missing); its bin/ folder."""
    path = path.resolve()
    if path == Path(sys.prefix).resolve():
        raise SystemExit(f"{path} is the project's virtualenv: oTree needs one of its own")
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import otree, psycopg2; print(otree.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == OTREE_VERSION:
            return path / "bin"
    print(f"making the oTree virtualenv in {path} (pip install otree=={OTREE_VERSION})")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(STUDY / "requirements.txt")],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"could not make the oTree virtualenv in {path} ({exc})\nIt needs the package "
            f"registry (pip install otree=={OTREE_VERSION} psycopg2-binary), or pass --venv "
            f"with a virtualenv that has them."
        ) from exc
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode != 0 or found.stdout.strip() != OTREE_VERSION:
        raise SystemExit(f"{path} has no oTree {OTREE_VERSION}: {found.stderr.strip()[-500:]}")
    return path / "bin"


# -- a browser on oTree's pages -------------------------------------------------------------------


class OTreeParticipant:
    """One browser through the oTree study: the session-wide link, then page after page."""

    def __init__(
        self, host, port, join, stats: Stats, sent: dict, rng, *, socket, static, keep_alive
    ):
        self.b = Browser(host, port, stats, keep_alive=keep_alive)
        self.join, self.stats, self.sent, self.rng = join, stats, sent, rng
        self.socket, self.static = socket, static
        self.assets_seen: set[str] = set()
        self.code = ""
        self.closing: list[asyncio.Future] = []

    async def get_page(self, path: str, kind: str) -> tuple[bytes, str]:
        """GET with redirects followed; the page and where it ended up."""
        for _ in range(5):
            status, headers, body = await patient(self.b, "GET", path, self.stats, kind=kind)
            if status in (301, 302, 303, 307):
                path = _path(headers["location"])
                kind = _page_kind(path)
                continue
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}")
            if self.static:
                for m in ASSET_RE.finditer(body):
                    url = m.group(1).decode()
                    if url not in self.assets_seen:  # the browser's cache keeps them
                        self.assets_seen.add(url)
                        await patient(self.b, "GET", url, self.stats, kind="static")
            return body, path
        raise RuntimeError(f"GET {path}: too many redirects")

    async def open_socket(self, page: bytes):
        """The page's auto-advance websocket (page-websocket-redirect.js), open until the
        browser leaves the page: its reader and writer, or None."""
        m = SOCKET_RE.search(page)
        if not self.socket or m is None:
            return None
        url = m.group(1).decode().replace("&amp;", "&")
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection(self.b.host, self.b.port)
        key = base64.b64encode(os.urandom(16)).decode()
        cookies = "; ".join(f"{k}={v}" for k, v in self.b.cookies.items())
        writer.write(
            (
                f"GET {url} HTTP/1.1\r\nHost: {self.b.host}:{self.b.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Cookie: {cookies}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status = int(head.split()[1])
        self.stats.record("websocket", time.perf_counter() - t0, status, {})
        if status != 101:
            self.stats.errors.append(f"websocket: HTTP {status}")
        return reader, writer

    def close_socket(self, socket) -> None:
        """Leaving the page: the browser closes the websocket (1001, going away) without
        waiting; the closing handshake finishes in the background."""
        if socket is None:
            return
        reader, writer = socket
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate((1001).to_bytes(2, "big")))
        writer.write(bytes([0x88, 0x80 | 2]) + mask + payload)

        async def finish():
            try:
                await asyncio.wait_for(reader.read(-1), 30)  # the server's close, then EOF
            except (OSError, TimeoutError):
                pass
            finally:
                writer.close()

        self.closing.append(asyncio.ensure_future(finish()))

    async def post_form(
        self, path: str, page: bytes, fields: dict, kind: str
    ) -> tuple[bytes, str, bool]:
        """The page's form as the browser posts it (its hidden fields and ``fields``), the
        redirect followed; the next page, its path, and whether the POST was accepted."""
        data = {k.decode(): v.decode() for k, v in HIDDEN_RE.findall(page)}
        body = urlencode({**data, **fields}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, hdrs, answer = await patient(
            self.b, "POST", path, self.stats, body=body, headers=headers, kind=kind
        )
        if status in (301, 302, 303):
            nxt = _path(hdrs["location"])
            page, nxt = await self.get_page(nxt, _page_kind(nxt))
            return page, nxt, nxt != path
        if status == 200:  # the form came back with errors
            self.stats.errors.append(f"{kind}: form refused")
            return answer, path, False
        raise RuntimeError(f"POST {path}: HTTP {status}")

    async def step(self, path, page, fields, kind) -> tuple[bytes, str, bool]:
        """One page: its websocket opened, its form posted, the websocket closed on leaving."""
        socket = await self.open_socket(page)
        try:
            return await self.post_form(path, page, fields, kind)
        finally:
            self.close_socket(socket)

    async def run(self) -> None:
        label = secrets.token_hex(12)  # a PROLIFIC_PID
        page, path = await self.get_page(
            f"{self.join}?{urlencode({'participant_label': label})}", "entry"
        )
        m = CODE_RE.match(path)
        if m is None or "/Consent/" not in path:
            raise RuntimeError(f"the session-wide link led to {path}")
        self.code = m.group(1)
        page, path, _ = await self.step(path, page, {"consent": "yes"}, "consent")
        page, path, _ = await self.step(path, page, {}, "advance")  # instructions
        page, path, _ = await self.step(path, page, {}, "advance")  # practice (nothing kept)
        for round_number in range(1, 16):
            if "/Trial/" not in path:
                raise RuntimeError(f"trial {round_number}: on {path}")
            values = [self.rng.randint(0, 100) for _ in range(3)]
            fields = {f"rating_{i + 1}": v for i, v in enumerate(values)}
            fields.update({f"listening_{i + 1}": "1.5" for i in range(3)})
            page, path, accepted = await self.step(path, page, fields, "submit")
            if not accepted:
                raise RuntimeError(f"trial {round_number} refused")
            self.sent[(self.code, round_number)] = values
            self.stats.acked[self.code] = self.stats.acked.get(self.code, 0) + 3
            self.stats.trials += 1
            self.stats.submit_times.append(time.perf_counter())
        if "/Questionnaire/" not in path:
            raise RuntimeError(f"no questionnaire after the trials: {path}")
        answers = {"age_range": "25-34", "device": "headphones", "music_training": "some"}
        page, path, _ = await self.step(path, page, {**answers, "comment": ""}, "questionnaire")
        if b"data-code" not in page:
            raise RuntimeError(f"no completion code on the last page ({path})")
        self.close_socket(await self.open_socket(page))  # the last page is shown, and left
        await asyncio.gather(*self.closing)
        self.stats.finished += 1


def _path(location: str) -> str:
    if "://" in location:
        location = "/" + location.split("://", 1)[1].partition("/")[2]
    return location


def _page_kind(path: str) -> str:
    return "page_trial" if "/Trial/" in path else "page_other"


# -- the server, the session, the check ------------------------------------------------------------


async def rest(port: int, key: str, method: str, path: str, payload=None, timeout=600.0):
    body = json.dumps(payload).encode() if payload is not None else b""
    status, _, answer = await Browser("127.0.0.1", port).request(
        method,
        path,
        body=body,
        headers={"otree-rest-key": key, "Content-Type": "application/json"},
        timeout=timeout,
    )
    if status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {status} {answer[:300]!r}")
    return json.loads(answer)


def verify(url: str, sent: dict, db_file: Path) -> dict:
    """Every acknowledged rating in oTree's tables, with the value sent."""
    query = (
        "SELECT p.code, r.round_number, r.rating_1, r.rating_2, r.rating_3, r.listening_1, "
        "r.listening_2, r.listening_3 FROM rating_player r "
        "JOIN otree_participant p ON p.id = r.participant_id"
    )
    done = "SELECT COUNT(*) FROM otree_participant WHERE _current_page_name = 'Completion'"
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(query).fetchall()
            completed = conn.execute(done).fetchone()[0]  # type: ignore[index]
    else:
        with sqlite3.connect(db_file) as conn:
            rows = conn.execute(query).fetchall()
            completed = conn.execute(done).fetchone()[0]
    stored: dict[tuple[str, int], list] = {}
    duplicated = 0
    for code, round_number, *values in rows:
        if (code, round_number) in stored:
            duplicated += 1
        stored[(code, round_number)] = values
    lost = wrong = no_listening = 0
    for key, values in sent.items():
        row = stored.get(key)
        if row is None or row[0] is None:
            lost += 3
            continue
        wrong += sum(a != b for a, b in zip(row[:3], values, strict=True))
        no_listening += sum(x is None for x in row[3:])
    extra = sum(
        sum(v is not None for v in row[:3]) for key, row in stored.items() if key not in sent
    )
    return {
        "participants": len({code for code, _ in sent}),
        "acknowledged": 3 * len(sent),
        "stored": sum(sum(v is not None for v in row[:3]) for row in stored.values()),
        "lost": lost,
        "wrong_value": wrong,
        "no_listening_time": no_listening,
        "unacknowledged_but_stored": extra,
        "duplicated": duplicated,
        "completed": completed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="participants at once (default 50)")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--venv", type=Path, default=ROOT / "var" / "otree-venv")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--session-before",
        action="store_true",
        help="create the session before the measured window (default: inside it)",
    )
    parser.add_argument("--no-websocket", action="store_true", help="no auto-advance websocket")
    parser.add_argument("--static", action="store_true", help="fetch scripts and styles too")
    parser.add_argument(
        "--no-keep-alive",
        action="store_true",
        help="a new connection per request (default: each browser keeps its connection)",
    )
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument(
        "--profile", help="py-spy record the server into this file (.svg: a flame graph)"
    )
    args = parser.parse_args()
    lock = ours.one_run_at_a_time(" ".join(["otree_baseline.py", *sys.argv[1:]]))  # noqa: F841
    args.mode = "saturate"

    bin_dir = otree_venv(args.venv)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    shutil.copytree(STUDY, RUN_DIR, ignore=shutil.ignore_patterns("__pycache__"))
    (RUN_DIR / "_static").mkdir()  # oTree's static folder must exist
    url = ""
    if args.db == "postgres":
        url = ours.pg_private_start().replace("postgres://", "postgresql://", 1)
    key = secrets.token_hex(16)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTREE_") and k not in ("DATABASE_URL", "PYTHONPATH")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",  # prodserver starts `otree ...`
        OTREE_PRODUCTION="1",
        OTREE_AUTH_LEVEL="STUDY",
        OTREE_ADMIN_PASSWORD=secrets.token_hex(12),
        OTREE_REST_KEY=key,
        OTREE_SECRET_KEY=secrets.token_hex(24),
    )
    if url:
        env["DATABASE_URL"] = url
    server = None
    try:
        print("machine:", ours.machine())
        server = subprocess.Popen(
            [str(bin_dir / "otree"), "prodserver", f"127.0.0.1:{args.port}"],
            cwd=RUN_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(RUN_DIR / "server.log").open("wb"),
            start_new_session=True,
        )
        deadline = time.time() + 120
        while True:
            try:
                version = asyncio.run(rest(args.port, key, "GET", "/api/otree_version"))
                break
            except (OSError, RuntimeError):
                if server.poll() is not None or time.time() > deadline:
                    log = (RUN_DIR / "server.log").read_text(errors="replace")
                    raise SystemExit("otree prodserver did not start:\n" + log[-3000:]) from None
                time.sleep(0.3)
        print(
            f"oTree {version.get('version', version)} (otree prodserver, one process); "
            f"{args.db}{' (private cluster)' if url else ''}; load client on the same machine; "
            f"think 0 s, all at once; websocket per page: {'no' if args.no_websocket else 'yes'}; "
            f"{'a new connection per request' if args.no_keep_alive else 'keep-alive'}"
        )
        pg = ours.postmaster_pid(True) if url else None
        me = psutil.Process()

        def cpu_now() -> tuple[float, float, float]:
            return ours.tree_cpu_s(server.pid), ours.tree_cpu_s(pg), sum(me.cpu_times()[:2])

        def create() -> str:
            made = asyncio.run(
                rest(
                    args.port,
                    key,
                    "POST",
                    "/api/sessions",
                    {"session_config_name": "rating", "num_participants": args.n},
                )
            )
            return _path(made["session_wide_url"])

        join = create() if args.session_before else ""
        stats, sent = Stats(), {}
        profiler = None
        if args.profile:
            fmt = "flamegraph" if args.profile.endswith(".svg") else "raw"  # raw: collapsed stacks
            profiler = subprocess.Popen(
                ["py-spy", "record", "-p", str(server.pid), "-o", args.profile, "-f", fmt]
                + ["-r", "200", "--gil"],  # Python's own CPU, as participants.py samples
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        before = cpu_now()
        t0 = time.perf_counter()
        if not join:
            join = create()
        session_s = time.perf_counter() - t0
        after_session = cpu_now()
        rng = random.Random(1)

        async def crowd():
            async def one():
                p = OTreeParticipant(
                    "127.0.0.1",
                    args.port,
                    join,
                    stats,
                    sent,
                    random.Random(rng.random()),
                    socket=not args.no_websocket,
                    static=args.static,
                    keep_alive=not args.no_keep_alive,
                )
                try:
                    await p.run()
                finally:
                    p.b.close()
                stats.completed += 1

            return await asyncio.gather(*(one() for _ in range(args.n)), return_exceptions=True)

        results = asyncio.run(crowd())
        wall = time.perf_counter() - t0
        after = cpu_now()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        for r in results:
            if isinstance(r, Exception):
                stats.errors.append("aborted " + repr(r)[:200])
        cpu = {k: after[i] - before[i] for i, k in enumerate(("server", "db", "client"))}
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    try:
        check = verify(url, sent, RUN_DIR / "db.sqlite3")
    finally:
        if url:
            ours.pg_private_stop()
    result = ours.report(stats, wall, cpu, check, args)
    result["platform"] = f"oTree {OTREE_VERSION} (otree prodserver)"
    result["session_in_window"] = not args.session_before
    result["session_create_s"] = round(session_s, 2) if not args.session_before else None
    result["session_create_server_cpu_s"] = (
        round(after_session[0] - before[0], 2) if not args.session_before else None
    )
    if not args.session_before and wall > session_s and stats.trials:
        result["trials_per_s_after_session"] = round(stats.trials / (wall - session_s), 1)
    result["websocket"] = not args.no_websocket
    result["keep_alive"] = not args.no_keep_alive
    result["machine"] = ours.machine()
    ours.print_report(result)
    if not args.session_before:
        print(
            f"  the session (oTree's participants) was made in {result['session_create_s']} s "
            f"inside the window ({result['session_create_server_cpu_s']} s of server CPU); "
            f"trials/s after it: {result.get('trials_per_s_after_session')}"
        )
    log = (RUN_DIR / "server.log").read_text(errors="replace")
    if "Traceback" in log:
        print(log[-3000:])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
