"""A participant in headless Chromium (Debian's, launched by path): clicking, playing, switching,
a refresh in the middle, completion; nothing in the DOM or the network names a condition."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import listen_and_rate, needs_chromium, wait_unlocked

pytestmark = needs_chromium


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    small_study.min_listen_s = 0.6
    small_study.save()
    services.study_go_live(study=small_study)
    return small_study


def test_a_participant_completes_the_form_in_chromium(browser, live_server, study, conditions):
    from survey.models import Participant, Rating

    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, bypass_csp=True
    )  # a phone-sized screen;
    # bypass_csp lets the test evaluate JavaScript; test_the_pages_pass_their_csp checks the policy
    # itself
    page = ctx.new_page()
    requests, statuses = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: statuses.append((r.url, r.status)))
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pw-1")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role("button", name="Start the practice video").click()
    assert "Practice video" in page.content()
    listen_and_rate(page, {"A": 30, "B": 70})
    page.get_by_role("button", name="Start the study").click()
    page.wait_for_selector("text=Video 1 of 2")

    # one clock: while a track plays, audio and video stay within 50 ms; a switch keeps the position
    page.locator("button[data-audio]").nth(0).click()
    page.wait_for_function(
        "window.__musiscenePlayer.drift() !== null && "
        "document.querySelector('video').currentTime "
        "> 0.3"
    )
    drifts = [page.evaluate("window.__musiscenePlayer.drift()") for _ in range(5)]
    before = page.evaluate("document.querySelector('video').currentTime")
    page.locator("button[data-audio]").nth(1).click()
    page.wait_for_function(
        "window.__musiscenePlayer.current === 1 && window.__musiscenePlayer.drift() !== null"
    )
    after = page.evaluate("document.querySelector('video').currentTime")
    drifts.append(page.evaluate("window.__musiscenePlayer.drift()"))
    assert all(abs(d) < 0.05 for d in drifts), drifts
    assert after >= before - 0.05 or after < 0.5  # kept its place (or looped round the 2 s clip)

    listen_and_rate(page, {"A": 20, "B": 80})
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=Video 2 of 2")
    # the next video came with the submit's answer: shown in place, no page load, nothing heard
    assert page.evaluate("window.__sameDocument === true")
    assert page.locator("#rA").is_disabled() and page.locator("#rB").is_disabled()
    assert page.evaluate("document.activeElement.id") == "study-progress-label"

    # a refresh in the middle of a trial keeps what was done
    listen_and_rate(page, {"A": 60})
    page.reload()
    page.wait_for_selector("text=Video 2 of 2")
    assert page.locator("#rA").input_value() == "60"
    listen_and_rate(page, {"B": 40})
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=Almost done")
    page.select_option("#device", "headphones")
    page.get_by_role("button", name="Finish").click()
    page.wait_for_selector("[data-code]")
    assert page.locator("[data-code]").inner_text() == study.completion_code

    p = Participant.objects.get(prolific_pid="pw-1")
    assert p.status == "completed"
    values = sorted(Rating.objects.filter(participant=p).values_list("value", flat=True))
    assert values == [20, 40, 60, 80]

    names = [c.name for c in conditions.values()] + [c.label for c in conditions.values()]
    for url in requests:
        assert not any(n.lower() in url.lower() for n in names), url
    assert any(status == 206 for url, status in statuses if "/m/" in url), statuses
    ctx.close()


def test_the_page_resends_a_submit_when_the_server_cannot_be_reached(browser, live_server, study):
    from survey.models import Rating

    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role("button", name="Start the practice video").click()
    listen_and_rate(page, {"A": 10, "B": 10})
    page.get_by_role("button", name="Start the study").click()
    page.wait_for_selector("text=Video 1 of 2")
    listen_and_rate(page, {"A": 50, "B": 90})
    failures = {"n": 0}

    def flaky(route):
        if failures["n"] < 2:
            failures["n"] += 1
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route(re.compile(r".*/run/submit/$"), flaky)
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=No connection")
    page.wait_for_selector("text=Video 2 of 2", timeout=20000)
    assert failures["n"] == 2
    assert sorted(Rating.objects.values_list("value", flat=True)) == [50, 90]
    ctx.close()


def test_an_annotator_writes_refreshes_and_resumes(
    browser, live_server, transactional_db, make_clip
):
    from survey import services
    from survey.models import Annotation, Form, Study

    for i in range(3):
        make_clip(f"music-{i}", captions=False)
    study = Study.objects.create(title="Describe", slug="describe", min_listen_s=0.6)
    form = services.form_create(
        study=study, name="a", n_videos=2, kind=Form.Kind.ANNOTATION, min_description_chars=20
    )
    services.form_sample_trials(form=form)
    services.study_go_live(study=study)

    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(f"{live_server.url}/s/describe/")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role(
        "button", name="Start", exact=True
    ).click()  # annotation forms have no practice trial
    page.wait_for_selector("text=Clip 1 of 2")
    assert page.locator("#description").is_disabled()
    page.get_by_role("button", name="Play the music").click()
    page.wait_for_function(
        "document.querySelector('#description').disabled === false", timeout=15000
    )
    page.fill("#description", "A beach at dusk, friends walking slowly along the water.")
    page.get_by_label("calm").check()
    page.reload()  # the draft survives a refresh
    page.wait_for_selector("text=Clip 1 of 2")
    assert page.locator("#description").input_value().startswith("A beach at dusk")
    assert page.get_by_label("calm").is_checked()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=Clip 2 of 2")
    page.get_by_role("button", name="Play the music").click()
    page.wait_for_function(
        "document.querySelector('#description').disabled === false", timeout=15000
    )
    page.fill("#description", "short")
    assert page.get_by_role("button", name="Save and continue").is_disabled()
    page.fill("#description", "A rainy city street at night seen from a bus window.")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_selector("text=Almost done")
    texts = sorted(Annotation.objects.values_list("text", flat=True))
    assert texts[0].startswith("A beach at dusk") and texts[1].startswith("A rainy city")
    assert Annotation.objects.get(text__startswith="A beach").tags == {"mood": ["calm"]}


def test_the_pages_pass_their_content_security_policy(browser, live_server, study):
    ctx = browser.new_context()  # the policy enforced
    page = ctx.new_page()
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(f"{live_server.url}/s/{study.slug}/")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role("button", name="Start the practice video").click()
    page.locator("button[data-audio]").nth(0).click()
    # Our scripts ran: the player unlocked the slider (a generous wait: CI shares 2 cores).
    wait_unlocked(page, 0, timeout=60000)
    assert violations == []
    ctx.close()


def test_a_tap_before_the_player_script_arrives_is_not_lost(browser, live_server, study):
    """On a slow network the page is shown before its player script has arrived. Its buttons
    wait, disabled, until the script has wired them: a tap then would do nothing, without a word
    (the buttons used to be enabled from the start, and such a tap was lost)."""
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    held = []
    page.route("**/survey/player.js*", lambda route: held.append(route))
    page.goto(f"{live_server.url}/s/{study.slug}/")
    page.get_by_role("button", name="I agree, start").click()
    page.get_by_role("button", name="Start the practice video").click(no_wait_after=True)
    play_a = page.get_by_role("button", name="Play soundtrack A")
    play_a.wait_for()  # the page is there, its player script held back
    page.wait_for_timeout(300)
    assert held, "the player script was not requested"
    assert play_a.is_disabled() and page.get_by_role("button", name="Play / pause").is_disabled()
    assert page.evaluate("typeof window.MusiScenePlayer") == "undefined"
    held[0].continue_()
    play_a.click()  # Playwright waits until it is enabled, as a person waits for a greyed button
    wait_unlocked(page, 0, timeout=60000)
    ctx.close()
