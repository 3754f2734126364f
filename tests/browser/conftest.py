"""Shared by the browser tests: Debian's Chromium launched by path (never downloaded), beside
Django's live server; a probe of what Web Audio really plays; the way to a practice page."""

from __future__ import annotations

import os
import shutil
import statistics

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=user-gesture-required",
]
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]


# Records every AudioBufferSourceNode the page starts and stops, with the times (on the audio
# clock) it asked for, and measures at every presented video frame how far what is heard is from
# the frame shown. Written apart from the page's own accounting, which it checks.
AUDIO_PROBE = r"""
(() => {
  const log = [];
  window.__audioLog = log;
  // The audio clock and output timestamps as the browser gives them, kept before any other
  // script (a test's own may then tell the page otherwise).
  const B = window.BaseAudioContext || window.AudioContext;
  const clockGet = B && (Object.getOwnPropertyDescriptor(B.prototype, "currentTime") || {}).get;
  const clock = (ctx) => (clockGet ? clockGet.call(ctx) : ctx.currentTime);
  const AC = window.AudioContext;
  const stampOf = AC && AC.prototype.getOutputTimestamp;
  const P = AudioBufferSourceNode.prototype, start = P.start, stop = P.stop;
  P.start = function (when, offset) {
    const now = clock(this.context);
    this.__rec = { buffer: this.buffer, ctx: this.context, start: Math.max(when || 0, now),
                   offset: offset || 0, stop: null, loop: this.loop };
    log.push(this.__rec);
    return start.apply(this, arguments);
  };
  P.stop = function (when) {
    // the last call wins (a source may be told at its start when it ends, then stopped earlier)
    if (this.__rec) {
      this.__rec.stop = Math.max(when || 0, clock(this.context));
      this.__rec.asked = clock(this.context);
    }
    return stop.apply(this, arguments);
  };
  /* Seconds each buffer was scheduled to sound, up to the audio clock's present (a stop
     already asked for counts to its time: the fade-out is sound too; an end set far ahead, as at
     a start, counts only up to the present). */
  window.__heardTruth = (buffers) => {
    const out = {};
    buffers.forEach((buf, i) => {
      let s = 0;
      for (const r of log) {
        if (r.buffer !== buf) continue;
        const now = clock(r.ctx);
        let end = r.stop !== null ? r.stop : now;
        if (r.stop !== null && r.stop - r.asked > 0.1) end = Math.min(r.stop, now);
        s += Math.max(0, end - r.start);
      }
      out[i] = s;
    });
    return out;
  };
  const mod = (x, m) => ((x % m) + m) % m;
  const drifts = [];
  window.__drifts = drifts;
  // Firefox on Linux can hang for good on a read of its output latency (getOutputTimestamp
  // reads it too): there the probe, like the page, takes the scheduled time as the time heard.
  const ua = navigator.userAgent;
  const askLatency = !(/Firefox\//.test(ua) && /Linux/.test(ua) && !/Android/.test(ua));
  // An output timestamp whose performanceTime lies in the future is not believed: WebKitGTK's
  // advances twice as fast as performance.now(), ahead of it, and is seconds off after a while.
  // Where it is not asked, the context's time is read from currentTime, which moves in steps
  // (Firefox: 17-20 ms) and stands still between: the reading of the last 2 s least behind
  // performance.now() (the greatest difference) places a steady clock through the steps' fronts.
  const reads = [];
  const steadyCtx = (ctx, perf) => {
    const now = performance.now(), off = clock(ctx) - now / 1000;
    while (reads.length && (now - reads[0].at > 2000 || Math.abs(reads[0].off - off) > 0.05))
      reads.shift();
    reads.push({ off: off, at: now });
    return Math.max(...reads.map((r) => r.off)) + perf / 1000;
  };
  const heardCtx = (ctx, perf) => {
    // (a test that tells the page Firefox's timing asks for Firefox's measure: __probeScheduled)
    if (!askLatency || window.__probeScheduled) return steadyCtx(ctx, perf);
    const ts = stampOf ? stampOf.call(ctx) : null;
    if (ts && ts.performanceTime > 0 && ts.contextTime > 0
        && ts.performanceTime <= performance.now() + 20
        && performance.now() - ts.performanceTime < 500)
      return ts.contextTime + (perf - ts.performanceTime) / 1000;
    return clock(ctx) - (ctx.outputLatency || 0) - (ctx.baseLatency || 0)
      + (perf - performance.now()) / 1000;
  };
  // What is heard at performance time ``perf``: the one source sounding at the context time that
  // leaves the speaker then (a crossfade, two sources at once, says nothing about either; nor do
  // the first 20 ms of a fade-in). The drift is its buffer position less the video's ``media``.
  const measure = (perf, media, video, into) => {
    const recs = log.filter((r) => r.buffer && r.buffer.length > 1);
    if (!recs.length || video.paused) return;
    const ctx = recs[recs.length - 1].ctx;
    const t = heardCtx(ctx, perf);
    const at = recs.filter((r) => r.ctx === ctx && r.start <= t && (r.stop === null || r.stop > t));
    if (at.length !== 1 || t < at[0].start + 0.02) return;
    const r = at[0], dur = r.buffer.duration;
    let d = mod(r.offset + (t - r.start), dur) - mod(media, dur);
    if (d > dur / 2) d -= dur;
    if (d < -dur / 2) d += dur;
    // late: how long after the frame's display this callback ran (a starved main thread)
    into.push({ d: d, media: media, perf: perf, late: performance.now() - perf });
  };
  // Where no frame is reported (WebKitGTK under Xvfb): the element's current time against what
  // is heard now, every 50 ms while the video plays and is not waiting for data.
  const clockDrifts = [];
  window.__clockDrifts = clockDrifts;
  // the browser's own, kept apart from what a test may put in its place for the page
  const rvfc = HTMLVideoElement.prototype.requestVideoFrameCallback;
  const watch = (video) => {
    const onFrame = (now, meta) => {
      let perf = meta.expectedDisplayTime || now;
      const at = performance.now();  // WebKitGTK's frame times may run on another origin
      // (a frame shown in the future or long ago; a late callback under load is fine)
      if (perf - at > 50 || at - perf > 3000) perf = now - at > 50 || at - now > 3000 ? at : now;
      measure(perf, meta.mediaTime, video, drifts);
      rvfc.call(video, onFrame);
    };
    if (rvfc) rvfc.call(video, onFrame);
    setInterval(() => {
      if (video.readyState >= 2 && !video.seeking)
        measure(performance.now(), video.currentTime, video, clockDrifts);
    }, 50);
  };
  // installed before the page's scripts (Playwright) or after load (Selenium)
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => {
      document.querySelectorAll("video").forEach(watch);
    });
  } else {
    document.querySelectorAll("video").forEach(watch);
  }
})();
"""


def split_presentation(samples: list[dict]) -> list[dict]:
    """Split each drift sample of the probe into the engine's part and the page's.

    A sample is taken at a frame's display time (``perf``, ms) and says how far the sound heard
    then is from the frame's media time (``d``, s). A sound runs steadily, so a frame shown ``e``
    later than the video's cadence reads ``e`` more drift: ``d = page + e``. ``e`` is measured
    from the frames alone: each frame's display time less its media time, against the median of
    that over one continuous pass of the video (the cadence the engine keeps on the whole);
    ``page = d - e`` is where the page put the sound against that cadence, which is all a page
    can choose (a switch or a re-alignment changes it, not the cadence). A pass ends at a jump in
    media time (a loop, a seek), a gap of 400 ms or a pause. Returns one dict per pass of three
    samples or more: ``n``, ``page`` and ``engine`` (lists of ms)."""
    out, run = [], []

    def close():
        if len(run) >= 3:
            ref = statistics.median(x["perf"] / 1000 - x["media"] for x in run)
            engine = [(x["perf"] / 1000 - x["media"] - ref) * 1000 for x in run]
            page = [x["d"] * 1000 - e for x, e in zip(run, engine, strict=True)]
            out.append({"n": len(run), "page": page, "engine": engine})
        run.clear()

    for x in sorted(samples, key=lambda x: x["perf"]):
        if run:
            prev = run[-1]
            gap = (x["perf"] - prev["perf"]) / 1000
            step = x["media"] - prev["media"]
            if step < 0 or gap > 0.4 or abs(gap - step) > 0.25:
                close()
        run.append(x)
    close()
    return out


def pressable_button(driver, text: str, timeout: float = 20.0):
    """The shown button (or button-styled link) with this text, once it can be pressed, for the
    WebDriver walks (Selenium's and Marionette's ``find_elements`` take the same arguments). The
    trial page enables its buttons when its player script has run; a click before that would be
    lost, as a person's."""
    import time

    end = time.monotonic() + timeout
    while True:
        for b in driver.find_elements("css selector", "button, a.button"):
            if b.text.strip() == text and b.is_displayed() and b.is_enabled():
                return b
        if time.monotonic() > end:
            raise AssertionError(f"no button {text!r} that can be pressed")
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _sync_playwright_beside_the_live_server(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# The trial page's player as a test sees it when a wait times out.
PLAYER_STATE = """() => { const p = window.__musiscenePlayer, v = document.querySelector('video');
  if (!p) return document.body.innerText.slice(0, 400);
  return JSON.stringify({current: p.current, wanted: p.wanted, source: !!p.source,
    pending: p._pending, audioWait: !!p._audioWait, stalled: p.stalled, framesWork: p._framesWork,
    ctx: p.ctx && p.ctx.state, ctxTime: p.ctx && p.ctx.currentTime, paused: v && v.paused,
    readyState: v && v.readyState, time: v && v.currentTime, events: p.events.slice(-8)}); }"""


def wait_unlocked(page, i: int, timeout: float = 15000):
    """Wait until the slider of the ``i``-th soundtrack shown unlocks; a wait that times out fails
    with what the player was doing (its audio clock, a pending start, the video), not only that it
    timed out. Works under the enforced Content Security Policy (no script is evaluated to wait)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".rating:not([hidden])").nth(i).locator("input:enabled").wait_for(
            timeout=timeout
        )
    except PlaywrightTimeout:
        try:
            state = page.evaluate(PLAYER_STATE)
        except Exception as exc:  # noqa: BLE001 - the state is a diagnosis, the timeout the failure
            state = f"(the player's state could not be read: {exc})"
        raise AssertionError(f"track {i} never unlocked: {state}") from None


def listen_and_rate(page, values: dict[str, int]):
    """Play every soundtrack shown until its slider unlocks, then set the given sliders by
    keyboard. An item shown in place of a longer one hides the rows it does not use (the last)."""
    buttons = page.locator(".rating:not([hidden]) button[data-audio]")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        wait_unlocked(page, i)
    for label, value in values.items():
        slider = page.locator(f"#r{label}")
        slider.focus()
        slider.press("Home")
        for _ in range(value // 10):
            slider.press("PageUp")
    return page


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for every test of a module (contexts keep the tests apart)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_practice(ctx, base_url: str, slug: str, *, pid: str | None = None, script: str = ""):
    """A new page at the practice trial of a new participant, the audio probe installed (and
    ``script`` after it, before the page's own)."""
    page = ctx.new_page()
    page.add_init_script(AUDIO_PROBE)
    if script:
        page.add_init_script(script)
    query = f"?PROLIFIC_PID={pid}" if pid else ""
    page.goto(f"{base_url}/s/{slug}/{query}")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role("button", name="Start the practice video").click()
    page.wait_for_selector("text=Practice video")
    return page


@pytest.fixture
def short_listen_study(transactional_db, small_study):
    """The small study, live, with a short must-hear (0.6 s): the walks in WebKit and Firefox
    stay within one pass of the 2 s clip (a looping clip can stall at its loop in WebKitGTK;
    the player then stops the sound, as it should)."""
    from survey import services

    type(small_study).objects.filter(pk=small_study.pk).update(min_listen_s=0.6)
    small_study.refresh_from_db()
    services.study_go_live(study=small_study)
    return small_study


@pytest.fixture
def study_track(distinct_tracks):
    """A sound of its own per clip, as the page plays and switches them (tests/conftest.py)."""
    return distinct_tracks
