"""The participant walk in Firefox (Gecko): Debian's firefox-esr, headless, driven through its
own Marionette protocol by `marionette_driver` from PyPI (no registry reached here ships a
geckodriver binary for Linux). Headless Firefox needs a sound server to run an AudioContext at
all: a PulseAudio with a null sink is started for the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.browser.conftest import AUDIO_PROBE, pressable_button, split_presentation

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
PULSEAUDIO = shutil.which("pulseaudio")
try:
    import marionette_driver  # noqa: F401

    HAVE_DRIVER = True
except ImportError:
    HAVE_DRIVER = False
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (FIREFOX and PULSEAUDIO and HAVE_DRIVER),
        reason="Firefox needs: apt-get install firefox-esr pulseaudio; "
        "pip install marionette-driver",
    ),
]
PLAYER = "window.__musiscenePlayer"
# The drift's bounds in Firefox (the test's docstring says why they are not the issue's):
FIREFOX_P50_MS = 20  # at the frames shown: the median ...
FIREFOX_MAX_MS = 40  # ... and the worst frame (the page's part and the engine's together)
FIREFOX_PAGE_P50_MS = 15  # the page's part alone: where it put the sound against the cadence
FIREFOX_PAGE_MAX_MS = 30
FIREFOX_REALIGNED = 8  # re-alignments (each a 12 ms crossfade) in the 2.4 s measured


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def firefox():
    from marionette_driver.marionette import Marionette

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # A PulseAudio of this fixture's own, in a private runtime folder that only this Firefox is
    # told of: a daemon at the default place is found by the Chromium of a browser test running
    # beside this one, whose AudioContext was suspended for good when the daemon was killed at
    # teardown (CI: a track that never unlocked, in test_real_study and test_browser_resume).
    runtime = tempfile.mkdtemp(prefix="ff-pulse-")
    env = {**os.environ, "PULSE_RUNTIME_PATH": runtime, "PULSE_STATE_PATH": runtime}
    subprocess.run(
        [
            PULSEAUDIO,
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--load=module-null-sink sink_name=null",
            "--load=module-native-protocol-unix",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    time.sleep(1)
    profile = tempfile.mkdtemp(prefix="ff-profile-")
    port = _free_port()
    with open(os.path.join(profile, "user.js"), "w") as fh:
        fh.write(f'user_pref("marionette.port", {port});\n')
    ff = subprocess.Popen(
        [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", profile, "about:blank"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    m = Marionette(host="127.0.0.1", port=port, startup_timeout=90, socket_timeout=60)
    m.start_session()
    try:
        yield m
    finally:
        try:
            m.delete_session()
        finally:
            ff.terminate()
            ff.wait(timeout=20)
            subprocess.run([PULSEAUDIO, "--kill"], env=env, timeout=30)
            shutil.rmtree(profile, ignore_errors=True)
            shutil.rmtree(runtime, ignore_errors=True)


def _summary(values, scale: float = 1000) -> tuple:
    """(n, p50, p99, max) of the absolute values, in ms (``scale``: ms per unit given)."""
    ms = sorted(abs(x) * scale for x in values)
    if not ms:
        return (0, None, None, None)
    return (len(ms), ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.99 * len(ms)))], ms[-1])


def _js(m, script: str):
    return m.execute_script(script, sandbox=None)


def _wait(m, script: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        # between two pages there may be no body yet: not there yet, not an error
        if _js(m, f"try {{ return !!({script}); }} catch (e) {{ return false; }}"):
            return
        time.sleep(0.1)
    text = _js(m, "return document.body && document.body.innerText")
    raise AssertionError(f"timed out waiting for {script}: {text}")


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    type(small_study).objects.filter(pk=small_study.pk).update(min_listen_s=0.6)
    small_study.refresh_from_db()
    services.study_go_live(study=small_study)
    return small_study


def test_the_participant_walk_in_firefox(firefox, live_server, study):
    """Click-started audio, a switch, exact listening time, must-hear, drift, completion.

    Drift. Headless Firefox shows the 10 fps clip's frames up to ~17 ms off their own cadence,
    and its audio clock (``currentTime``) moves in 17-20 ms steps. At the frames shown: p50 <
    20 ms, max < 40 ms; the page's part alone (``split_presentation``: where the page put the
    sound against the cadence the frames keep): p50 < 15 ms, max < 30 ms; at most 8
    re-alignments. Not the issue's p99 10 / max 20 ms: the page knows the cadence only from the
    frames it has seen, and after a loop it places the sound on two of them (the same page
    meets the issue's max where Chromium is made to time as coarsely, in
    test_browser_clock.py). Old page (the mean of the last four frames, the audio clock read
    as it stood), 5 runs: p50 6.5-12.1 ms, max 27.7-41.5 ms. Now (the clock read every 7 ms
    through its steps' fronts, the cadence over the whole pass), 6 runs alone: p50 3.3-13.9 ms,
    max 12.8-23.5 ms; the page's part p50 2.4-13.9 ms, max 9.4-21.5 ms; 2-4 re-alignments."""
    from marionette_driver.keys import Keys

    from survey.models import Participant, Rating

    m = firefox
    m.delete_all_cookies()
    m.navigate(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=firefox-1")
    pressable_button(m, "I agree, start").click()
    _wait(m, "document.body.innerText.includes('Instructions')")
    pressable_button(m, "Start the practice video").click()
    _wait(m, "document.body.innerText.includes('Practice video')")
    _js(m, AUDIO_PROBE)
    pressable_button(m, "Play soundtrack A").click()
    _wait(
        m, f"{PLAYER}.current === 0 && {PLAYER}.source && !document.querySelector('video').paused"
    )
    _wait(m, f"{PLAYER}.ctx.state === 'running'", timeout=5)
    _wait(m, "!document.querySelector('#rA').disabled")
    assert _js(m, "return document.querySelector('#rB').disabled")
    pressable_button(m, "Play soundtrack B").click()
    _wait(m, f"{PLAYER}.current === 1 && {PLAYER}.source")
    time.sleep(1.2)
    got = _js(
        m,
        f"""const p = {PLAYER}; const bufs = p.buttons.map((_, i) => p.buffers[i]);
        return {{truth: window.__heardTruth(bufs), page: p.listenedSeconds(),
                 frames: window.__drifts.map(x => x.d), clock: window.__clockDrifts.map(x => x.d),
                 samples: window.__drifts, realigned: p.realigned}};""",
    )
    for k, truth in got["truth"].items():
        assert abs(got["page"][k] - truth) <= 1 / 60, got
    # Headless Firefox shows each frame of the 10 fps clip up to ~17 ms early or late against
    # its own cadence, so the drift at a frame (``frames``) moves by as much around a sound that
    # runs on steadily: that part is the engine's. ``split_presentation`` takes it out, measured
    # from the frames alone; what is left (``page``) is where the page put the sound against
    # the video's cadence. The element's time (``clock``) moves in
    # ~40 ms steps here: printed, not bounded. The output latency (25-40 ms, sound after
    # picture) cannot be read on Linux without risking a hang (player.js ``latencyReadable``)
    # and is in no figure here.
    passes = split_presentation(got["samples"])
    page = [abs(v) for st in passes for v in st["page"]]
    engine = [abs(v) for st in passes for v in st["engine"]]
    stats = {
        "frames": _summary(got["frames"]),
        "clock": _summary(got["clock"]),
        "page": _summary(page, 1),
        "engine": _summary(engine, 1),
    }
    print(f"firefox drift (n, p50, p99, max ms): {stats}, re-aligned {got['realigned']}")
    n, p50, _, worst = stats["frames"]
    assert n >= 10 and p50 < FIREFOX_P50_MS and worst < FIREFOX_MAX_MS, stats
    n, p50, _, worst = stats["page"]
    assert n >= 10 and p50 < FIREFOX_PAGE_P50_MS and worst < FIREFOX_PAGE_MAX_MS, stats
    assert got["realigned"] <= FIREFOX_REALIGNED, got["realigned"]
    m.find_element("id", "rA").send_keys(Keys.END)
    m.find_element("id", "rB").send_keys(Keys.HOME)
    _wait(m, "!document.querySelector('[data-action=next]').disabled")
    pressable_button(m, "Start the study").click()
    for n in (1, 2):
        _wait(m, f"document.body.innerText.includes('Video {n} of 2')")
        for label in ["A", "B"]:
            pressable_button(m, f"Play soundtrack {label}").click()
            _wait(m, f"!document.querySelector('#r{label}').disabled")
            m.find_element("id", f"r{label}").send_keys(Keys.END if n == 1 else Keys.HOME)
        pressable_button(m, "Save and continue").click()
    _wait(m, "document.body.innerText.includes('Almost done')")
    pressable_button(m, "Finish").click()
    _wait(m, "document.querySelector('[data-code]')")
    p = Participant.objects.get(prolific_pid="firefox-1")
    assert p.status == Participant.Status.COMPLETED
    values = sorted(Rating.objects.filter(participant=p).values_list("value", flat=True))
    assert values == [0, 0, 100, 100]
