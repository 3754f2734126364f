"""The participant walk in WebKit, the engine of Safari and of every iOS browser: WebKitGTK's
MiniBrowser driven by Selenium through Debian's WebKitWebDriver, on a virtual X display (its
--headless mode hangs). Safari's rules are exercised here, not assumed: audio only after a click,
the AudioContext resumed in it, AAC in MP4 decoded by the engine, media served with Range."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings

import pytest

from tests.browser.conftest import AUDIO_PROBE, pressable_button

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
DRIVER = shutil.which("WebKitWebDriver") or "/usr/bin/WebKitWebDriver"
XVFB = shutil.which("Xvfb")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(MINIBROWSER) and os.path.exists(DRIVER) and XVFB),
        reason="WebKit needs: apt-get install webkit2gtk-driver xvfb gstreamer1.0-libav "
        "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad",
    ),
]
PLAYER = "window.__musiscenePlayer"
VIDEO = "document.querySelector('video')"
STATE = f"""const p = {PLAYER}; const v = {VIDEO};
return p ? JSON.stringify({{current: p.current, wanted: p.wanted, source: !!p.source,
  stalled: p.stalled, readyState: v.readyState, seeking: v.seeking, time: v.currentTime,
  paused: v.paused, ctx: p.ctx && p.ctx.state, events: p.events.slice(-5),
  status: (document.querySelector('.status') || {{}}).textContent}}) : document.body.innerText"""
H264_AAC = 'video/mp4; codecs="avc1.42E01E, mp4a.40.2"'
WEBKIT_P50_MS = 5
WEBKIT_FAR_S = 0.015  # a clock sample this far off ...
WEBKIT_FAR = 6  # ... at most this many times in a walk (50 ms apart)
SWITCH_LOOPS = 3  # the switch and loop after it, this many times more
WEBKIT_JUMP_S = 0.1  # no two samples in a row this far off (a jump of the picture followed)


class WebKit:
    """MiniBrowser under WebKitWebDriver on its own Xvfb display; ``restart`` replaces a browser
    that stopped answering."""

    def __init__(self):
        self.display = f":{os.getpid() % 500 + 100}"
        self.xvfb = subprocess.Popen(
            [XVFB, self.display, "-screen", "0", "1024x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.old_display = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = self.display
        time.sleep(0.5)
        self.driver = self._start()

    @staticmethod
    def _start():
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        options = Options()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        driver = webdriver.WebKitGTK(options=options, service=Service(executable_path=DRIVER))
        driver.set_script_timeout(30)
        # A WebDriver command that gets no answer fails after 2 minutes instead of hanging the
        # run (Selenium waits forever by default).
        driver.command_executor.client_config.timeout = 120
        return driver

    def processes(self):
        import psutil

        try:
            root = psutil.Process(self.driver.service.process.pid)
            return [root, *root.children(recursive=True)]
        except (psutil.Error, AttributeError):
            return []

    def stacks(self) -> str:
        """Every thread's stack in each of the browser's processes (gdb, where installed)."""
        gdb = shutil.which("gdb")
        out = []
        for proc in self.processes():
            try:
                name = " ".join(proc.cmdline())[:160]
            except Exception:  # noqa: BLE001 - a process that went away
                continue
            out.append(f"=== {proc.pid} {name}")
            if gdb:
                run = subprocess.run(
                    [gdb, "-p", str(proc.pid), "-batch", "-ex", "thread apply all bt 25"],
                    capture_output=True,
                    text=True,
                    timeout=90,
                )
                out.append(run.stdout[-20000:])
        return "\n".join(out)

    def kill(self):
        for proc in reversed(self.processes()):
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - already gone
                pass

    def restart(self):
        self.kill()
        self.driver = self._start()

    def close(self):
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - a browser that hung: its processes are killed
            self.kill()
        self.xvfb.terminate()
        self.xvfb.wait(timeout=10)
        if self.old_display is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = self.old_display


@pytest.fixture(scope="module")
def webkit_session():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    session = WebKit()
    try:
        yield session
    finally:
        session.close()


def _wait(driver, script: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(f"return !!({script})"):
            return
        time.sleep(0.1)
    state = driver.execute_script(STATE)
    raise AssertionError(f"timed out waiting for {script}: {state}")


def _text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def _listen_and_rate(driver, key):
    from selenium.webdriver.common.by import By

    for label in ["A", "B"]:
        pressable_button(driver, f"Play soundtrack {label}").click()
        _wait(driver, f"!document.querySelector('#r{label}').disabled")
        driver.find_element(By.ID, f"r{label}").send_keys(key)


def _max_ms(clock) -> float:
    return round(max((abs(x) * 1000 for x in clock), default=0.0), 1)


def _switch_and_loop(d) -> list[float]:
    """The practice page again (a refresh): A, B 0.6 s later, on past the clip's loop; the
    clock samples (a second pass of the clip in one page can stall in WebKitGTK, so each is
    a page of its own)."""
    d.refresh()
    _wait(d, "document.body.innerText.includes('Practice video')")
    d.execute_script(AUDIO_PROBE)
    for i, label in enumerate("AB"):
        pressable_button(d, f"Play soundtrack {label}").click()
        _wait(d, f"{PLAYER}.current === {i} && {PLAYER}.source")
        time.sleep(0.6 if label == "A" else 1.4)
    return d.execute_script("return window.__clockDrifts.map(x => x.d)")


def test_the_participant_walk_in_webkit(webkit_session, live_server, short_listen_study, tmp_path):
    """Switch, one clock, must-hear, refresh, completion, in WebKit.

    WebKitWebDriver stopped answering in about one walk in 13 (once in CI, in a reload of the
    switch-and-loop walks; 0 of 12 walks alone since): cause unknown. Then the stacks of every
    browser process are written down (gdb), a warning says where, and the walk is run once
    more in a new browser, so that a driver that hangs is reported with its evidence, and the
    page is still held to every assertion below."""
    from urllib3.exceptions import ReadTimeoutError

    try:
        _walk(webkit_session.driver, live_server.url, short_listen_study, "webkit-1")
    except ReadTimeoutError as exc:
        stacks = webkit_session.stacks()
        where = tmp_path / "webkit-hang-stacks.txt"
        where.write_text(stacks)
        warnings.warn(
            f"WebKitWebDriver gave no answer for 2 minutes ({exc}); the walk runs again in a new "
            f"browser. The stacks of its processes: {where}\n{stacks[:6000]}",
            stacklevel=1,
        )
        webkit_session.restart()
        _walk(webkit_session.driver, live_server.url, short_listen_study, "webkit-2")


def _walk(d, base_url: str, study, pid: str):
    from selenium.webdriver.common.keys import Keys

    from survey.models import Participant, Rating

    d.delete_all_cookies()
    d.get(f"{base_url}/s/{study.slug}/?PROLIFIC_PID={pid}")
    assert d.execute_script(f"return document.createElement('video').canPlayType('{H264_AAC}')"), (
        "WebKit cannot play H.264/AAC: install gstreamer1.0-libav"
    )
    pressable_button(d, "I agree, start").click()
    _wait(d, "document.body.innerText.includes('Instructions')")
    pressable_button(d, "Start the practice video").click()
    _wait(d, "document.body.innerText.includes('Practice video')")
    d.execute_script(AUDIO_PROBE)

    # must-hear: B stays locked while only A is heard; a switch keeps one clock
    pressable_button(d, "Play soundtrack A").click()
    _wait(
        d, f"{PLAYER}.current === 0 && {PLAYER}.source && !document.querySelector('video').paused"
    )
    assert d.execute_script(f"return {PLAYER}.ctx.state") == "running"
    _wait(d, "!document.querySelector('#rA').disabled")
    assert d.execute_script("return document.querySelector('#rB').disabled")
    pressable_button(d, "Play soundtrack B").click()
    _wait(d, f"{PLAYER}.current === 1 && {PLAYER}.source")
    time.sleep(1.2)
    got = d.execute_script(
        f"""const p = {PLAYER}; const bufs = p.buttons.map((_, i) => p.buffers[i]);
        return {{truth: window.__heardTruth(bufs), page: p.listenedSeconds(),
                 frames: window.__drifts.map(x => x.d), late: window.__drifts.map(x => x.late),
                 clock: window.__clockDrifts.map(x => x.d), realigned: p.realigned,
                 series: window.__clockDrifts.map(x => [x.d, x.media, x.perf]),
                 events: p.events.map(e => [e.type, e.video_time]),
                 latency: [p.ctx.outputLatency, p.ctx.baseLatency,
                           !!p.ctx.getOutputTimestamp]}};"""
    )
    for k, truth in got["truth"].items():
        assert abs(got["page"][k] - truth) <= 1 / 60, got
    # Drift measured two ways: at each frame WebKitGTK reports to requestVideoFrameCallback
    # (few, irregular under Xvfb, its frame and output times on another clock origin) and every
    # 50 ms on the element's current time, both against what Web Audio plays then.
    stats = {}
    for kind in ("frames", "clock"):
        ms = sorted(abs(x) * 1000 for x in got[kind])
        if ms:
            stats[kind] = (len(ms), ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.99 * len(ms)))])
            stats[kind] += (ms[-1],)
    # each sample 10 ms or more off: (drift ms, element time, ms since the sample before, ms
    # the element moved since then): an element time that stood still or jumped is WebKit's
    series = got["series"]
    off = [
        (round(d * 1000, 1), round(m, 3), round(t - t0), round((m - m0) * 1000))
        for (_, m0, t0), (d, m, t) in zip(series[:1] + series, series, strict=False)
        if abs(d) >= 0.01
    ]
    print(
        f"webkit drift (n, p50, p99, max ms): {stats}, re-aligned {got['realigned']}, "
        f"outputLatency/baseLatency/getOutputTimestamp {got['latency']}, off {off}, "
        f"events {got['events']}"
    )
    assert stats.get("clock", (0,))[0] >= 10, got
    # WebKit's own bounds (see docs/explanation/browsers.md): the median within 5 ms, and at
    # most WEBKIT_FAR samples (300 ms) 15 ms or more off. Alone on the machine 15 of 18 runs had
    # max 2.1-10.1 ms; 3 had 583-683 ms for 3-5 samples at the loop after the switch, where
    # WebKitGTK's currentTime jumped back to ~0 while the sound ran on (re-aligned within 250
    # ms): the max 20 ms / p99 10 ms are printed for WebKit, not asserted
    assert stats["clock"][1] < WEBKIT_P50_MS, stats
    far = [x for x in got["clock"] if abs(x) >= WEBKIT_FAR_S]
    assert len(far) <= WEBKIT_FAR, (stats, off)
    # WebKitGTK restarts the picture from its first frame ~1.3 s into the clip (no seeking
    # event), often a few tenths of a second after a switch; the page follows such a jump at
    # once (``_checkJump``): no two samples in a row (50 ms apart) WEBKIT_JUMP_S or more off.
    # One can be, the probe sampling between the jump and the page's next check (20 ms).
    walks = [got["clock"]] + [_switch_and_loop(d) for _ in range(SWITCH_LOOPS)]
    runs = [
        (n, i, round(c[i] * 1000, 1))
        for n, c in enumerate(walks)
        for i in range(1, len(c))
        if min(abs(c[i - 1]), abs(c[i])) >= WEBKIT_JUMP_S
    ]
    print(
        f"webkit switch and loop: n={[len(c) for c in walks]}, max ms {[_max_ms(c) for c in walks]}"
        f", samples >= 100 ms off {[sum(abs(x) >= WEBKIT_JUMP_S for x in c) for c in walks]}"
    )
    assert not runs, (runs, [_max_ms(c) for c in walks])
    d.find_element("id", "rA").send_keys(Keys.END)
    d.find_element("id", "rB").send_keys(Keys.HOME)

    # a refresh keeps what was done
    d.refresh()
    _wait(d, "document.body.innerText.includes('Practice video')")
    _wait(d, "!document.querySelector('#rA').disabled && !document.querySelector('#rB').disabled")
    assert d.execute_script("return document.querySelector('#rA').value") == "100"
    pressable_button(d, "Start the study").click()
    for n in (1, 2):
        _wait(d, f"document.body.innerText.includes('Video {n} of 2')")
        _listen_and_rate(d, Keys.END if n == 1 else Keys.HOME)
        pressable_button(d, "Save and continue").click()
    _wait(d, "document.body.innerText.includes('Almost done')")
    pressable_button(d, "Finish").click()
    _wait(d, "document.querySelector('[data-code]')")
    p = Participant.objects.get(prolific_pid=pid)
    assert p.status == Participant.Status.COMPLETED
    assert sorted(Rating.objects.filter(participant=p).values_list("value", flat=True)) == [
        0,
        0,
        100,
        100,
    ]
    assert (
        d.execute_script("return Object.keys(localStorage).filter(k => k.startsWith('ms:')).length")
        == 0
    )
