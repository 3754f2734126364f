"""The participant's trial page in Chromium: exact listening time, the most recent click wins, no
stored file name in media answers, contrast, the untouched slider, drafts saved and cleared,
only a "stored" answer counts, the practice retries, the recruiter redirect, one tight clock.

One file because every test drives the same trial page through the browser context and the
study fixtures and helpers at its top."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.browser.conftest import AUDIO_PROBE as AUDIO_PROBE_REF
from tests.browser.conftest import open_practice

pytestmark = [pytest.mark.browser]

FRAME_S = 1 / 60  # "to within a frame": one frame of a 60 Hz screen
PLAYER = "window.__musiscenePlayer"
READ = f"""(() => {{
  const p = {PLAYER};
  const bufs = p.buttons.map((_, i) => p.buffers[i]);
  return {{ truth: window.__heardTruth(bufs), page: p.listenedSeconds() }};
}})()"""


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    services.study_go_live(study=small_study)
    return small_study


@pytest.fixture
def ctx(chromium):
    # bypass_csp lets the test evaluate JavaScript; the CSP itself is checked elsewhere
    c = chromium.new_context(bypass_csp=True, viewport={"width": 1024, "height": 800})
    yield c
    c.close()


def _playing(page, i: int):
    page.wait_for_function(
        f"{PLAYER}.current === {i} && {PLAYER}.source !== null"
        " && !document.querySelector('video').paused",
        timeout=15000,
    )


def _check_exact(page, base: dict | None = None) -> dict:
    got = page.evaluate(READ)
    base = base or {}
    for k, truth in got["truth"].items():
        assert abs(got["page"][k] - truth) <= FRAME_S, (k, got)
    return {k: v + base.get(k, 0.0) for k, v in got["truth"].items()}


def test_listening_time_is_exact_whatever_the_sequence(ctx, live_server, study):
    """Defect 1: a switch credited the old track's time to the new one; clicking the same button
    again counted twice. Checked against what Web Audio was asked to play."""
    page = open_practice(ctx, live_server.url, study.slug)
    a, b = page.locator("button[data-audio]").nth(0), page.locator("button[data-audio]").nth(1)
    play = page.locator("[data-action=play]")
    a.click()
    _playing(page, 0)
    page.wait_for_timeout(400)
    b.click()
    b.click()  # the same button again
    _playing(page, 1)
    page.wait_for_timeout(300)
    _check_exact(page)
    play.click()  # pause
    page.wait_for_timeout(200)
    play.click()  # play
    _playing(page, 1)
    page.wait_for_timeout(300)
    page.evaluate("document.querySelector('video').currentTime = 0.5")  # seek
    page.wait_for_timeout(300)
    a.click()
    _playing(page, 0)
    page.wait_for_timeout(1800)  # past the end of the 2 s clip: it loops
    b.click()
    a.click()
    _playing(page, 0)
    page.wait_for_timeout(200)
    play.click()
    page.wait_for_function("document.querySelector('video').paused")
    page.wait_for_timeout(100)
    heard = _check_exact(page)
    assert heard["1"] > 0.5 and heard["0"] > 2.0, heard

    # must-hear: B (under 2 s) stays locked, A opened
    assert page.locator("#rA").is_enabled()
    assert page.locator("#rB").is_disabled() == (heard["1"] + 0.25 < 2.0), heard

    # a reload keeps exactly what was heard, and counts on from there
    page.reload()
    page.wait_for_selector("text=Practice video")
    restored = page.evaluate(
        "JSON.parse(localStorage.getItem("
        "Object.keys(localStorage).find(k => k.endsWith(':practice:-1')))).heard"
    )
    assert abs(restored["A"] - heard["0"]) <= FRAME_S and abs(restored["B"] - heard["1"]) <= FRAME_S
    page.locator("button[data-audio]").nth(1).click()
    _playing(page, 1)
    page.wait_for_timeout(1500)
    page.locator("[data-action=play]").click()
    page.wait_for_function("document.querySelector('video').paused")
    after = _check_exact(page, base=heard)
    assert page.locator("#rB").is_disabled() == (after["1"] + 0.25 < 2.0), after


def test_the_most_recent_click_wins_on_a_slow_network(ctx, live_server, study):
    """Defect 3: click B while B's audio is still loading, then A: A plays and stays."""
    page = open_practice(ctx, live_server.url, study.slug)
    urls = page.evaluate(
        "Array.from(document.querySelectorAll('button[data-audio]')).map(b => b.dataset.audio)"
    )
    held = []
    page.route(re.compile(re.escape(urls[1]) + "$"), lambda route: held.append(route))
    page.locator("button[data-audio]").nth(1).click()  # B: its answer is held back
    page.wait_for_timeout(200)
    page.locator("button[data-audio]").nth(0).click()  # then A
    _playing(page, 0)
    assert len(held) == 1
    held[0].continue_()  # B arrives late
    page.wait_for_function(f"!!{PLAYER}.buffers[1]", timeout=15000)
    page.wait_for_timeout(400)
    assert page.evaluate(f"{PLAYER}.current") == 0
    assert page.locator("button[data-audio]").nth(0).get_attribute("aria-pressed") == "true"
    assert page.locator("button[data-audio]").nth(1).get_attribute("aria-pressed") == "false"
    started_b = page.evaluate(
        f"window.__audioLog.filter(r => r.buffer === {PLAYER}.buffers[1]).length"
    )
    assert started_b == 0


def test_media_answers_name_no_stored_file(ctx, live_server, study):
    """Defect 4: Content-Disposition named the stored file, the same for every participant."""
    from generation.models import Track

    answers = []
    ctx.on("response", lambda r: "/m/" in r.url and answers.append(r))
    page = open_practice(ctx, live_server.url, study.slug)
    page.locator("button[data-audio]").nth(0).click()
    _playing(page, 0)
    page.locator("button[data-audio]").nth(1).click()
    _playing(page, 1)
    stored = set()
    for t in Track.objects.select_related("clip"):
        for f in (t.audio, t.clip.video):
            if f:
                stored.add(Path(f.name).name.lower())
                stored.add(Path(f.name).stem.lower())
    assert answers and {r.status for r in answers} >= {200, 206}, [r.status for r in answers]
    for r in answers:
        headers = r.all_headers()
        assert "content-disposition" not in headers, headers
        for value in headers.values():
            assert not any(name in value.lower() for name in stored), (r.url, headers)


def _axe(page, rules=None):
    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    else:
        options["runOnly"] = {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
    result = Axe().run(page, options=options)
    return [
        (v["id"], [n["target"] for n in v["nodes"]], v["nodes"][0].get("failureSummary"))
        for v in result.response["violations"]
    ]


def test_text_contrast_is_at_least_4_5_to_1(ctx, live_server, study):
    """Defect 5: the pressed track button was 3.0:1 and the lock note 4.3:1."""
    page = open_practice(ctx, live_server.url, study.slug)
    page.locator("button[data-audio]").nth(0).click()  # pressed, while B's lock note shows
    _playing(page, 0)
    assert page.locator("button[data-audio]").nth(0).get_attribute("aria-pressed") == "true"
    assert _axe(page, ["color-contrast"]) == []


def _ax_slider(page, name: str) -> tuple[str, str]:
    """What Chromium's accessibility tree gives a screen reader: (value, description)."""
    cdp = page.context.new_cdp_session(page)
    for n in cdp.send("Accessibility.getFullAXTree")["nodes"]:
        if n.get("role", {}).get("value") == "slider" and n.get("name", {}).get("value") == name:
            return str(n.get("value", {}).get("value")), n.get("description", {}).get("value", "")
    raise AssertionError(f"no slider named {name!r}")


def test_an_untouched_slider_shows_no_thumb_and_is_not_rated_yet(ctx, live_server, study):
    """Defect 6: the untouched slider sat at 50 and was announced "50"."""
    page = open_practice(ctx, live_server.url, study.slug)
    page.locator("button[data-audio]").nth(0).click()
    page.locator("#rA:enabled").wait_for(timeout=15000)
    assert page.locator("#rA").get_attribute("aria-valuetext") == "not rated yet"
    assert "not rated yet" in _ax_slider(page, "Rating of soundtrack A")[1]
    slider = page.locator("#rA")
    untouched = slider.screenshot()
    page.evaluate("document.querySelector('#rA').value = 95")  # no thumb: nothing moves
    assert slider.screenshot() == untouched
    page.evaluate("document.querySelector('#rA').value = 50")
    slider.focus()
    slider.press("End")  # the first touch shows the thumb and the value
    assert slider.screenshot() != untouched
    assert page.locator("#rA").get_attribute("aria-valuetext") is None
    value, description = _ax_slider(page, "Rating of soundtrack A")
    assert value == "100" and "not rated yet" not in description
    assert page.locator(".rating[data-label=A] output").inner_text() == "100"


def _kill_renderers() -> int:
    """SIGKILL this test process's own Chromium renderers (found through /proc)."""
    parents, cmdlines = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmdlines[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
    mine, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in mine} - mine
        mine |= more
        grew = bool(more)
    killed = 0
    for pid in mine:
        if b"--type=renderer" in cmdlines.get(pid, b""):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def test_listening_time_survives_a_renderer_crash(ctx, live_server, study):
    """Defect 7: listening time was saved only on pagehide, which a crash never fires."""
    page = open_practice(ctx, live_server.url, study.slug)
    page.locator("button[data-audio]").nth(0).click()
    _playing(page, 0)
    page.wait_for_timeout(3000)
    heard = page.evaluate(READ)["truth"]["0"]
    crashed = []
    page.on("crash", lambda _: crashed.append(True))
    assert _kill_renderers() > 0  # a renderer crash: SIGKILL, so no pagehide and no unload
    time.sleep(1)
    try:
        page.title()
    except Exception:  # noqa: BLE001 - "Target crashed", as it should
        pass
    assert crashed
    again = ctx.new_page()
    again.goto(page.url)
    again.wait_for_selector("text=Practice video")
    restored = again.evaluate(
        "JSON.parse(localStorage.getItem("
        "Object.keys(localStorage).find(k => k.endsWith(':practice:-1')))).heard"
    )
    assert heard - 2.2 <= restored["A"] <= heard + FRAME_S, (restored, heard)


def _listen_all_and_rate(page, value: int):
    buttons = page.locator("button[data-audio]")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        page.wait_for_function(
            f"document.querySelectorAll('.rating input')[{i}].disabled === false", timeout=15000
        )
    for slider in page.locator(".rating input").all():
        slider.focus()
        slider.press("Home")
        for _ in range(value // 10):
            slider.press("PageUp")


def test_completion_clears_drafts_and_returns_to_the_recruiter(ctx, live_server, study):
    """Defects 7 and 8: drafts stayed in localStorage after completion; with a recruiter URL the
    last page only showed a link instead of sending the participant on once all was stored."""
    from survey.models import Participant

    type(study).objects.filter(pk=study.pk).update(
        completion_redirect_url="https://recruiter.example/complete?cc={code}"
    )
    arrived = []
    ctx.route(
        "https://recruiter.example/**",
        lambda route: (arrived.append(route.request.url), route.fulfill(body="back home")),
    )
    page = open_practice(ctx, live_server.url, study.slug, pid="redirect-1")
    _listen_all_and_rate(page, 30)
    page.get_by_role("button", name="Start the study").click()
    for n in (1, 2):
        page.wait_for_selector(f"text=Video {n} of 2")
        _listen_all_and_rate(page, 50)
        page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=Almost done")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('ms:'))") == []
    page.get_by_role("button", name="Finish").click()
    page.wait_for_url(re.compile(r"https://recruiter\.example/"), timeout=10000)
    p = Participant.objects.get(prolific_pid="redirect-1")
    assert p.status == Participant.Status.COMPLETED
    assert arrived == [f"https://recruiter.example/complete?cc={p.completion_code}"]
    page.goto(f"{live_server.url}/s/{study.slug}/run/")
    page.wait_for_selector("[data-redirect]")  # the link stays as the fallback


def test_only_a_stored_answer_counts_as_stored(ctx, live_server, study):
    """Defect 9: every 409 was taken for "stored". bad_stage stores nothing: the page says so,
    keeps the draft and offers the way on."""
    from survey.models import Participant, Rating

    page = open_practice(ctx, live_server.url, study.slug, pid="conflict-1")
    _listen_all_and_rate(page, 30)
    page.get_by_role("button", name="Start the study").click()
    page.wait_for_selector("text=Video 1 of 2")
    _listen_all_and_rate(page, 60)
    Participant.objects.filter(prolific_pid="conflict-1").update(
        stage=Participant.Stage.QUESTIONNAIRE
    )
    url = page.url
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=were not saved")
    page.wait_for_timeout(500)
    assert page.url == url and page.locator("text=Video 1 of 2").is_visible()
    assert Rating.objects.count() == 0
    kept = page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':trial:0'))")
    assert len(kept) == 1
    onward = page.get_by_role("link", name="Go on")
    assert onward.is_visible()
    onward.click()
    page.wait_for_selector("text=Almost done")


def test_the_practice_page_retries_on_503(ctx, live_server, study):
    """Defect 9: during an outage the practice page moved on after a 503 and showed the practice
    again; it retries until the server answers."""
    page = open_practice(ctx, live_server.url, study.slug)
    _listen_all_and_rate(page, 30)
    outage = {"n": 0}

    def down(route):
        if outage["n"] < 2:
            outage["n"] += 1
            route.fulfill(status=503, body="maintenance")
        else:
            route.continue_()

    page.route(re.compile(r".*/advance/$"), down)
    page.get_by_role("button", name="Start the study").click()
    page.wait_for_selector("text=No connection")
    page.wait_for_selector("text=Video 1 of 2", timeout=20000)
    assert outage["n"] == 2


def _focus(page, name: str, role: str = "button", limit: int = 30):
    """Press Tab until the control named ``name`` has the focus (keyboard only)."""
    target = page.get_by_role(role, name=name, exact=True)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{role} {name!r} cannot be reached with Tab")


def _tab_order(page, limit: int = 30) -> list[str]:
    # start from the top: a click on the page's first line moves the focus navigation start there
    page.locator("#study-progress-label").click()
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate(
            """() => { const el = document.activeElement;
              if (!el || el === document.body) return null;
              return el.id ? '#' + el.id
                           : (el.getAttribute('aria-label') || el.textContent.trim()); }"""
        )
        if name is None or (seen and name == seen[0]):
            break
        seen.append(name)
    return seen


def _rate_by_keyboard(page, labels, key: str):
    for label in labels:
        _focus(page, f"Play soundtrack {label}")
        page.keyboard.press("Space")
        page.locator(f"#r{label}:enabled").wait_for(timeout=15000)
        _focus(page, f"Rating of soundtrack {label}", role="slider")
        page.keyboard.press(key)


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}])
def test_every_participant_page_passes_axe_and_the_study_completes_by_keyboard(
    chromium, live_server, study, viewport
):
    """axe-core (WCAG 2.1 A and AA) on every page of the walk, in each state; the study done
    with the keyboard alone; the trial page's focus order follows the page."""
    from survey.models import Participant

    ctx = chromium.new_context(bypass_csp=True, viewport=viewport)
    page = ctx.new_page()
    page.add_init_script(AUDIO_PROBE_REF)
    seen = {}

    def check(state: str):
        seen[state] = _axe(page)
        assert seen[state] == [], (state, seen[state])

    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=keys-1")
    check("consent")
    _focus(page, "I agree, start")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Instructions")
    check("instructions")
    _focus(page, "Start the practice video")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Practice video")
    check("practice, untouched")
    assert _tab_order(page) == [
        "Play / pause",
        "Play soundtrack A",
        "Play soundtrack B",
    ]  # the sliders are locked (disabled) until heard
    _rate_by_keyboard(page, ["A", "B"], "End")
    check("practice, heard and rated")
    assert _tab_order(page) == [
        "Play / pause",
        "Play soundtrack A",
        "#rA",
        "Play soundtrack B",
        "#rB",
        "Start the study",
    ]
    _focus(page, "Start the study")
    page.keyboard.press("Enter")
    for n in (1, 2):
        page.wait_for_selector(f"text=Video {n} of 2")
        check(f"trial {n}")
        _rate_by_keyboard(page, ["A", "B"], "Home")
        check(f"trial {n}, rated")
        _focus(page, "Save and continue")
        page.keyboard.press("Enter")
    page.wait_for_selector("text=Almost done")
    check("questionnaire")
    _focus(page, "Finish")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-code]")
    check("done")
    assert Participant.objects.get(prolific_pid="keys-1").status == Participant.Status.COMPLETED
    ctx.close()


def test_the_controls_do_not_move_when_the_video_arrives(chromium, live_server, study):
    """The video's box has its final size before the video loads: the track buttons a
    participant is about to tap stay where they are when its metadata arrives (the video's
    bytes are held back until the page has been measured without them)."""
    c = chromium.new_context(
        bypass_csp=True, viewport={"width": 390, "height": 700}, is_mobile=True
    )
    held = []

    def hold(route):
        if route.request.resource_type == "media":
            held.append(route)
        else:
            route.fallback()

    c.route("**/*", hold)
    try:
        page = open_practice(c, live_server.url, study.slug)
        page.wait_for_timeout(300)
        assert held, "the video was not requested"
        before = page.evaluate(
            "() => [document.querySelector('video').readyState,"
            " document.querySelector('.rating').getBoundingClientRect().top]"
        )
        assert before[0] == 0, before  # the video has not arrived
        c.unroute("**/*")
        for r in held:
            r.fallback()
        page.wait_for_function("document.querySelector('video').readyState >= 1")
        after = page.evaluate("document.querySelector('.rating').getBoundingClientRect().top")
        assert before[1] == after, (before, after)
    finally:
        c.close()


def test_on_a_phone_the_video_stays_in_view_while_the_last_track_is_rated(
    chromium, live_server, study
):
    """Portrait phone: the participant scrolls down to the last track's button and slider; the
    video they rate the music against is still on the screen, and covers neither control."""
    c = chromium.new_context(
        bypass_csp=True, viewport={"width": 390, "height": 700}, is_mobile=True, has_touch=True
    )
    try:
        page = open_practice(c, live_server.url, study.slug)
        # The video's box takes its size when its metadata arrives (150 px high before, 224 after):
        # measured earlier, the last track may fit above the fold, nothing then tested (seen in CI).
        page.wait_for_function("document.querySelector('video').readyState >= 1")
        last = page.locator(".rating").last
        for control in (last.locator("button"), last.locator("input[type=range]")):
            control.scroll_into_view_if_needed()
            got = page.evaluate(
                """(el) => {
                  const v = document.querySelector('video').getBoundingClientRect();
                  const r = el.getBoundingClientRect();
                  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                  return {vTop: v.top, vBottom: v.bottom, h: innerHeight, scrolled: scrollY,
                          onTop: hit === el || el.contains(hit)};
                }""",
                control.element_handle(),
            )
            assert got["scrolled"] > 0, got  # the control was below the fold
            assert got["vTop"] >= 0 and got["vBottom"] <= got["h"], got  # the video is in view
            assert got["onTop"], got  # and the control is not under it
    finally:
        c.close()


def test_a_context_the_browser_suspends_is_resumed_while_a_track_plays(ctx, live_server, study):
    """A browser may suspend the page's AudioContext on its own (a phone for a call; in CI,
    Chromium when the sound server it played to went away): the video played on in silence and
    the track never unlocked, since listening is counted on the audio clock. The page resumes
    it where the browser lets it."""
    page = open_practice(ctx, live_server.url, study.slug)
    page.locator("button[data-audio]").nth(0).click()
    _playing(page, 0)
    page.evaluate(f"{PLAYER}.ctx.suspend()")  # as the browser would, with no click
    page.wait_for_function(f"{PLAYER}.ctx.state === 'running'", timeout=5000)
    page.wait_for_function(
        "document.querySelectorAll('.rating input')[0].disabled === false", timeout=15000
    )
