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

from tests.browser.conftest import AUDIO_PROBE

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
FIREFOX_P50_MS = 20  # at the frames shown: the median ...
FIREFOX_MAX_MS = 80  # ... and the worst frame
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


def _button(m, text: str, timeout: float = 20.0):
    """The shown button with this text, once it can be pressed (the trial page enables its
    buttons when its player script has run; a click before that would be lost, as a person's)."""
    end = time.monotonic() + timeout
    while True:
        for b in m.find_elements("css selector", "button, a.button"):
            if b.text.strip() == text and b.is_displayed() and b.is_enabled():
                return b
        if time.monotonic() > end:
            raise AssertionError(f"no button {text!r} that can be pressed")
        time.sleep(0.1)


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    type(small_study).objects.filter(pk=small_study.pk).update(min_listen_s=0.6)
    small_study.refresh_from_db()
    services.study_go_live(study=small_study)
    return small_study


def test_the_participant_walk_in_firefox(firefox, live_server, study):
    """Click-started audio, a switch, exact listening time, must-hear, drift, completion.

    Drift, at the frames shown: p50 < 20 ms, max < 80 ms, at most 8 re-alignments, not the
    issue's 10/20 ms: headless Firefox presents the frames themselves up to ~30 ms off their
    cadence (see the comment at the bound). Before the page waited for the audio clock to run
    and stopped chasing single frames: p50 7-29 ms, max 17-870 ms, 7-14 re-alignments; after,
    5 runs: p50 6.5-12.1 ms, max 27.7-38.6 ms, 1-4 re-alignments."""
    from marionette_driver.keys import Keys

    from survey.models import Participant, Rating

    m = firefox
    m.delete_all_cookies()
    m.navigate(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=firefox-1")
    _button(m, "I agree, start").click()
    _wait(m, "document.body.innerText.includes('Instructions')")
    _button(m, "Start the practice video").click()
    _wait(m, "document.body.innerText.includes('Practice video')")
    _js(m, AUDIO_PROBE)
    _button(m, "Play soundtrack A").click()
    _wait(
        m, f"{PLAYER}.current === 0 && {PLAYER}.source && !document.querySelector('video').paused"
    )
    _wait(m, f"{PLAYER}.ctx.state === 'running'", timeout=5)
    _wait(m, "!document.querySelector('#rA').disabled")
    assert _js(m, "return document.querySelector('#rB').disabled")
    _button(m, "Play soundtrack B").click()
    _wait(m, f"{PLAYER}.current === 1 && {PLAYER}.source")
    time.sleep(1.2)
    got = _js(
        m,
        f"""const p = {PLAYER}; const bufs = p.buttons.map((_, i) => p.buffers[i]);
        return {{truth: window.__heardTruth(bufs), page: p.listenedSeconds(),
                 frames: window.__drifts.map(x => x.d), clock: window.__clockDrifts.map(x => x.d),
                 realigned: p.realigned}};""",
    )
    for k, truth in got["truth"].items():
        assert abs(got["page"][k] - truth) <= 1 / 60, got
    stats = {}
    for kind in ("frames", "clock"):
        ms = sorted(abs(x) * 1000 for x in got[kind])
        if ms:
            p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            stats[kind] = (len(ms), ms[len(ms) // 2], p99, ms[-1])
    print(f"firefox drift (n, p50, p99, max ms): {stats}, re-aligned {got['realigned']}")
    # What is achievable here (docs/explanation/browsers.md): headless Firefox shows each frame
    # of the 10 fps clip up to ~30 ms early or late (81-121 ms apart), so the drift measured at
    # a frame jitters by as much around a sound that runs on steadily; its element time moves
    # in ~40 ms steps. The page re-aligns on the mean of four frames there, not frame by frame.
    # The output latency (25-40 ms, sound after picture) cannot be read on Linux without risking
    # a hang (player.js ``latencyReadable``) and is in neither the page's figure nor this one.
    n, p50, _, worst = stats["frames"]
    assert n >= 10 and p50 < FIREFOX_P50_MS and worst < FIREFOX_MAX_MS, stats
    assert got["realigned"] <= FIREFOX_REALIGNED, got["realigned"]
    m.find_element("id", "rA").send_keys(Keys.END)
    m.find_element("id", "rB").send_keys(Keys.HOME)
    _wait(m, "!document.querySelector('[data-action=next]').disabled")
    _button(m, "Start the study").click()
    for n in (1, 2):
        _wait(m, f"document.body.innerText.includes('Video {n} of 2')")
        for label in ["A", "B"]:
            _button(m, f"Play soundtrack {label}").click()
            _wait(m, f"!document.querySelector('#r{label}').disabled")
            m.find_element("id", f"r{label}").send_keys(Keys.END if n == 1 else Keys.HOME)
        _button(m, "Save and continue").click()
    _wait(m, "document.body.innerText.includes('Almost done')")
    _button(m, "Finish").click()
    _wait(m, "document.querySelector('[data-code]')")
    p = Participant.objects.get(prolific_pid="firefox-1")
    assert p.status == Participant.Status.COMPLETED
    values = sorted(Rating.objects.filter(participant=p).values_list("value", flat=True))
    assert values == [0, 0, 100, 100]
