"""axe-core (WCAG 2.1 A and AA, 0 violations), accessible names and Tab order on every
participant page in the states a keyboard walk does not reach, in Chromium.

- ``test_every_server_page_in_every_state``, at a phone's size in English and at a desktop's
  size in Arabic (right to left): instructions, the headphone check (as shown, refused
  for missing answers, failed: screened out), the questionnaire refused because answers are not
  stored, the last page completed without and with a recruiter URL (the note and the link
  before the auto-forward, then the forward itself), a session that ended, a withdrawn
  participant's link (the consent page again), a study that closed
  mid-study with and without a way back, the 429 pages (too many starts, too many requests), the
  404, 500 and 503 pages; in Arabic also a full, closed and not yet open study and a link
  without the recruiter's id. Each page is reached as the participant reaches it (links, clicks);
  the server-side state (a stage, a closed study, a broken database) is set through the models.
- ``test_every_trial_page_state_and_the_study_by_keyboard_at_a_desktops_size``: the study
  done with the keyboard alone, checked on the way: the practice untouched, one track partly
  heard (locked sliders, the seconds left, its progress), rated and not yet sent; a trial whose
  answer cannot be sent (no connection, the server's 503) and one the server did not store
  (409 ``ended``: the reason and the *Go on* link, which gets the focus); the questionnaire;
  the last page.

- ``test_the_annotation_page``, at a phone's size in Arabic (its English texts are the same
  markup):
  a clip untouched (the text box locked), heard and described with tags, the next clip.

The pages of the keyboard walk (phone) are in test_browser_trial.py; consent, declined, full,
closed, not open, the 400 and an unknown study's 404 in test_browser_axe_pages.py.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.test_browser_trial import _axe, _focus, _rate_by_keyboard

pytestmark = [pytest.mark.browser]

ARABIC = {
    "title": "دراسة الاستماع",
    "consent_text": "أوافق على المشاركة.",
    "instructions_text": "شاهد كل فيديو ثم قيّم الموسيقى.",
    "question": "ما مدى ملاءمة هذه الموسيقى للفيديو؟",
    "scale_min_label": "لا تناسبه إطلاقًا",
    "scale_max_label": "تناسبه تمامًا",
}
RECRUITER = "https://recruiter.example/complete?cc={code}"

# Every focusable control in document order (one stop per radio group: its checked radio, else
# its first), each marked with its place; Tab must visit exactly these, in this order.
FOCUSABLE = r"""() => {
  const sel = 'a[href], button, input, select, textarea, audio[controls], video[controls],'
    + ' [tabindex]';
  const groups = new Map(), out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.disabled || el.tabIndex < 0 || el.type === 'hidden') continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.type === 'radio') {
      const checked = document.querySelector(`input[type=radio][name="${el.name}"]:checked`);
      if (groups.has(el.name) || (checked && checked !== el)) continue;
      groups.set(el.name, el);
    }
    out.push(el);
  }
  out.forEach((el, i) => { el.__tabPlace = i; });
  return out.map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + ':' + (el.getAttribute('aria-label') || el.textContent.trim()).slice(0, 40));
}"""
NAMED_ROLES = {
    "button",
    "link",
    "slider",
    "radio",
    "checkbox",
    "textbox",
    "combobox",
    "listbox",
    "spinbutton",
    "progressbar",
    "searchbox",
    "switch",
    "Audio",  # Chromium's roles of a media element: named by what it plays
    "Video",
}


def _tab_order_follows_the_page(page) -> list[str]:
    """Tab from the top of the page visits every control once, in document order."""
    expected = page.evaluate(FOCUSABLE)
    page.mouse.click(0, 0)  # the focus navigation starts at the top of the page
    visited: list[int] = []
    for _ in range(6 * len(expected) + 8):  # a media element has several stops of its own
        page.keyboard.press("Tab")
        place = page.evaluate(
            "() => { const el = document.activeElement;"
            " return el && el !== document.body ? (el.__tabPlace ?? -1) : null; }"
        )
        if place is None:
            break
        if not visited or visited[-1] != place:  # a media element's own controls: one stop
            visited.append(place)
        if len(visited) > len(expected):
            break
    names = [expected[i] if 0 <= i < len(expected) else "(not a control)" for i in visited]
    assert visited == list(range(len(expected))), f"{names} != {expected}"
    return expected


def _unnamed_controls(page) -> list[str]:
    """Controls a screen reader would announce without a name (Chromium's accessibility tree)."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return [
        f"{n['role']['value']} #{n.get('backendDOMNodeId')}"
        for n in nodes
        if not n.get("ignored")
        and n.get("role", {}).get("value") in NAMED_ROLES
        and not str(n.get("name", {}).get("value") or "").strip()
    ]


def _check(page, seen: dict, state: str, *, keys: bool = True) -> None:
    """axe and the names on every state; the Tab order where the state shows other controls
    than one already walked (``keys``)."""
    seen[state] = _axe(page)
    unnamed = _unnamed_controls(page)
    if unnamed:
        seen[state] = [*seen[state], ("unnamed controls", unnamed, "")]
    if keys:
        _tab_order_follows_the_page(page)


def _rtl_if(page, arabic: bool) -> None:
    html = page.locator("html")
    want = ("ar", "rtl") if arabic else ("en", "ltr")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == want


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services
    from survey.models import StudyText

    small_study.min_listen_s = 0.6
    small_study.languages = ["en", "ar"]
    small_study.headphone_check = True
    small_study.save()
    StudyText.objects.create(study=small_study, language="ar", **ARABIC)
    services.study_go_live(study=small_study)
    return small_study


# Each page at both sizes and in both directions (not every pairing: the CI's time is counted).
CASES = {
    "phone, English": ({"width": 390, "height": 844}, "en-GB"),
    "desktop, Arabic": ({"width": 1280, "height": 800}, "ar-EG"),
}


@pytest.mark.allows_5xx(500, 503)
def test_every_server_page_in_every_state(chromium, live_server, study, settings):
    for case in CASES:  # one study and one live server for both (the CI's time is counted)
        _server_pages(chromium, live_server, study, settings, case)


def _server_pages(chromium, live_server, study, settings, case: str) -> None:
    from django.db import OperationalError

    from survey import participation, privacy
    from survey.models import Participant, Study

    viewport, locale = CASES[case]
    arabic = locale.startswith("ar")
    ctx = chromium.new_context(viewport=viewport, locale=locale, bypass_csp=True)
    ctx.route(
        "https://recruiter.example/**", lambda route: route.fulfill(body="<title>back</title>")
    )
    page = ctx.new_page()
    base = f"{live_server.url}/s/{study.slug}/"
    seen: dict[str, list] = {}
    agree = "أوافق، ابدأ" if arabic else "I agree, start"

    def check(state: str, *, keys: bool = True) -> None:
        # the Tab order once: the same markup in either direction and at either size
        _check(page, seen, state, keys=keys and not arabic)

    def new_participant(pid: str) -> Participant:
        ctx.clear_cookies()
        page.goto(f"{base}?PROLIFIC_PID={pid}")
        page.get_by_role("button", name=agree).click()
        page.wait_for_selector("form[action$='/advance/']")
        return Participant.objects.get(prolific_pid=pid)

    def at(p: Participant, **fields) -> None:
        Participant.objects.filter(pk=p.pk).update(**fields)
        page.goto(f"{base}run/")

    pid = case.replace(", ", "-").replace(" ", "")
    p = new_participant(f"{pid}-1")
    _rtl_if(page, arabic)
    check("instructions")

    at(p, stage=Participant.Stage.HEADPHONE)
    page.wait_for_selector("fieldset.hp")
    _rtl_if(page, arabic)
    check("headphone check")
    # a browser that does not enforce ``required`` sends the form half answered: refused (400)
    page.evaluate("document.querySelectorAll('[required]').forEach(e => e.required = false)")
    page.locator("input[name=hp0]").first.check()
    page.locator("form button[type=submit]").click()
    page.wait_for_selector(".error[role=alert]")
    check("headphone check, answers missing", keys=False)
    plan = participation.headphone_plan(p)
    for i, right in enumerate(plan):
        page.locator(f"input[name=hp{i}]").nth((right + 1) % 3).check()  # every answer wrong
    page.locator("form button[type=submit]").click()
    page.wait_for_selector("[data-code]")
    assert Participant.objects.get(pk=p.pk).status == Participant.Status.SCREENED_OUT
    check("headphone check failed: screened out")

    p = new_participant(f"{pid}-2")
    at(p, stage=Participant.Stage.QUESTIONNAIRE)
    page.locator("form button[type=submit]").click()  # no rating stored: refused (409)
    page.wait_for_selector(".error[role=alert]")
    _rtl_if(page, arabic)
    check("questionnaire, answers not stored")
    done = {"stage": Participant.Stage.DONE, "completion_code": "C0DE1234"}
    at(p, status=Participant.Status.COMPLETED, **done)
    page.wait_for_selector("[data-code]")
    assert page.locator("[data-redirect]").count() == 0
    check("completed, no recruiter")
    Study.objects.filter(pk=study.pk).update(completion_redirect_url=RECRUITER)
    page.clock.install()  # the auto-forward waits until the checks are done
    page.goto(f"{base}run/")
    page.wait_for_selector("[data-redirect-note]:not([hidden])")
    check("completed, before the forward to the recruiter")
    page.clock.run_for(2000)
    page.wait_for_url(re.compile(r"^https://recruiter\.example/complete\?cc=C0DE1234$"))
    page.close()
    page = ctx.new_page()
    at(p, status=Participant.Status.ABANDONED, completion_code="")
    page.wait_for_selector("h1")
    assert page.locator("[data-code], [data-redirect]").count() == 0
    check("session ended")
    privacy.participant_withdraw(participant=p, requested_by="participant")
    page.goto(f"{base}run/")  # withdrawn: nothing is known of them, the study starts afresh
    page.get_by_role("button", name=agree).wait_for()
    check("withdrawn: the consent page again")

    p = new_participant(f"{pid}-3")
    Participant.objects.filter(pk=p.pk).update(stage=Participant.Stage.TRIALS)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    answer = page.goto(f"{base}run/")
    assert answer is not None and answer.status == 410
    assert page.locator("[data-return]").get_attribute("href") == "https://recruiter.example/"
    check("closed mid-study, a way back")
    Study.objects.filter(pk=study.pk).update(completion_redirect_url="")
    page.reload()
    assert page.locator("[data-return]").count() == 0
    check("closed mid-study, no way back", keys=False)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)

    if arabic:  # in English at both sizes in test_browser_axe_pages.py
        ctx.clear_cookies()
        for state, fields, status in (
            ("study full", {"target_per_form": 0}, 200),
            ("no recruiter id (400)", {"require_recruiter_id": True}, 400),
            ("closed (410)", {"status": Study.Status.CLOSED}, 410),
            ("not started (403)", {"status": Study.Status.DRAFT}, 403),
        ):
            saved = Study.objects.filter(pk=study.pk).values(*fields).get()
            Study.objects.filter(pk=study.pk).update(**fields)
            answer = page.goto(base)
            Study.objects.filter(pk=study.pk).update(**saved)
            assert answer is not None and answer.status == status, state
            _rtl_if(page, arabic)
            check(state, keys=False)

    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_ENTRY_PER_MIN = 10**6
    settings.RATELIMIT_STARTS_PER_CLIENT_PER_10MIN = 0
    ctx.clear_cookies()
    page.goto(f"{base}?PROLIFIC_PID={pid}-4")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name=agree).click()
    assert refused.value.status == 429
    _rtl_if(page, arabic)
    check("429: too many starts")
    settings.RATELIMIT_ENTRY_PER_MIN = 0
    answer = page.goto(base)
    assert answer is not None and answer.status == 429
    _rtl_if(page, arabic)
    check("429: too many requests")
    settings.RATELIMIT_ENABLED = False

    answer = page.goto(f"{base}run/no-such-page/")
    assert answer is not None and answer.status == 404
    _rtl_if(page, arabic)
    check("404")

    p = new_participant(f"{pid}-5")

    def broken(**kwargs):
        raise RuntimeError("a bug in the page")

    def database_down(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    for status, failure in ((500, broken), (503, database_down)):
        original = participation.participant_touch
        participation.participant_touch = failure  # type: ignore[assignment]
        try:
            answer = page.goto(f"{base}run/")
        finally:
            participation.participant_touch = original  # type: ignore[assignment]
        assert answer is not None and answer.status == status
        _rtl_if(page, arabic)
        check(str(status))

    bad = {state: v for state, v in seen.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
    ctx.close()


def test_every_trial_page_state_and_the_study_by_keyboard_at_a_desktops_size(
    chromium, live_server, study
):
    """The trial page as it changes, each state checked as it is shown, and the whole study done
    with the keyboard alone at a desktop's size (the phone's walk: test_browser_trial.py)."""
    from survey.models import Participant, Rating

    type(study).objects.filter(pk=study.pk).update(headphone_check=False, min_listen_s=2)
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = ctx.new_page()
    seen: dict[str, list] = {}

    def press(name: str, key: str = "Enter", role: str = "button") -> None:
        _focus(page, name, role)
        page.keyboard.press(key)

    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=states-1")
    press("I agree, start")
    page.wait_for_selector("text=Instructions")
    press("Start the practice video")
    page.wait_for_selector("text=Practice video")
    _check(page, seen, "practice, untouched")

    press("Play soundtrack A", "Space")
    page.wait_for_function("document.querySelector('#heard-A progress').value > 0.4")
    press("Play / pause", "Space")  # paused, A partly heard
    left = page.locator("#heard-A [data-left]")
    assert re.fullmatch(r"listen \d seconds? more to unlock the slider", left.inner_text())
    assert page.locator("#rA").is_disabled() and page.locator("#rB").is_disabled()
    _check(page, seen, "practice, A partly heard, sliders locked")

    # the rest with a short must-hear (the page keeps what was heard across the reload)
    type(study).objects.filter(pk=study.pk).update(min_listen_s=0.6)
    page.reload()
    _rate_by_keyboard(page, ["A", "B"], "End")
    assert page.get_by_role("button", name="Start the study").is_enabled()
    _check(page, seen, "practice, rated, not sent")
    press("Start the study")
    page.wait_for_selector("text=Video 1 of 2")
    _check(page, seen, "trial 1, untouched", keys=False)
    _rate_by_keyboard(page, ["A", "B"], "Home")
    _check(page, seen, "trial 1, rated, not sent", keys=False)

    # the answers meet no connection, then the server's 503, then a 409 that stores nothing
    submit = re.compile(r".*/run/submit/$")
    ended = {"ok": False, "error": "this session has ended", "code": "ended"}
    answered: list[int] = []

    def outage(route):
        n = len(answered)
        answered.append(n)
        if n == 0:
            route.abort("internetdisconnected")
        elif n == 1:
            route.fulfill(status=503, body="maintenance")
        else:
            route.fulfill(status=409, json=ended)

    def after(n: int) -> None:
        while len(answered) < n:
            page.wait_for_timeout(50)

    page.route(submit, outage)
    press("Save and continue")
    after(1)
    page.wait_for_selector("text=No connection")
    _check(page, seen, "trial 1, no connection: resending", keys=False)
    after(2)
    page.wait_for_timeout(100)
    assert page.locator(".status").inner_text().startswith("No connection")
    _check(page, seen, "trial 1, server 503: resending", keys=False)
    page.wait_for_selector("text=could not be saved", timeout=15000)
    onward = page.get_by_role("link", name="Go on")
    assert onward.is_visible()
    assert onward.evaluate("el => el === document.activeElement")
    assert Rating.objects.count() == 0
    _check(page, seen, "trial 1, not stored (409 ended): the reason and Go on")
    page.unroute(submit)
    press("Go on", role="link")
    page.wait_for_selector("text=Video 1 of 2")
    press("Save and continue")  # the kept draft, sent
    page.wait_for_selector("text=Video 2 of 2")
    _rate_by_keyboard(page, ["A", "B"], "End")
    press("Save and continue")
    page.wait_for_selector("text=Almost done")
    _check(page, seen, "questionnaire")
    press("Finish")
    page.wait_for_selector("[data-code]")
    _check(page, seen, "completed")
    p = Participant.objects.get(prolific_pid="states-1")
    assert p.status == Participant.Status.COMPLETED
    assert sorted(Rating.objects.filter(participant=p).values_list("value", flat=True)) == [
        0,
        0,
        100,
        100,
    ]

    bad = {state: v for state, v in seen.items() if v}
    assert not bad, json.dumps(bad, indent=1)
    ctx.close()


@pytest.fixture
def annotation_study(transactional_db, alice, make_clip):
    from survey import services
    from survey.models import Form, Study, StudyText

    for i in range(3):
        make_clip(f"m{i}", captions=False)
    study = Study.objects.create(
        title="Describe", slug="describe", min_listen_s=0.6, languages=["en", "ar"]
    )
    study.researchers.add(alice)
    StudyText.objects.create(study=study, language="ar", **ARABIC)
    form = services.form_create(
        study=study,
        name="a1",
        n_videos=2,
        kind=Form.Kind.ANNOTATION,
        annotators_per_clip=2,
        min_description_chars=10,
    )
    services.form_sample_trials(form=form)
    services.study_go_live(study=study)
    return study


def test_the_annotation_page(chromium, live_server, annotation_study):
    from survey.models import Annotation

    arabic = True
    ctx = chromium.new_context(viewport=CASES["phone, English"][0], locale="ar-EG", bypass_csp=True)
    page = ctx.new_page()
    seen: dict[str, list] = {}
    page.goto(f"{live_server.url}/s/{annotation_study.slug}/")
    page.locator("button[name=consent][value=yes]").click()
    page.locator("form[action$='/advance/'] button").click()
    page.wait_for_selector("#description")
    _rtl_if(page, arabic)
    assert page.locator("#description").is_disabled()
    _check(page, seen, "clip 1, untouched")
    page.locator("button[data-audio]").click()
    page.locator("#description:enabled").wait_for(timeout=15000)
    page.locator("#description").fill("A harbour at dawn, slow and calm.")
    page.locator("input[type=checkbox][data-category]").first.check()
    assert page.locator("button[data-action=next]").is_enabled()
    _check(page, seen, "clip 1, heard, described, tagged")
    page.locator("button[data-action=next]").click()
    page.wait_for_function("document.querySelector('#description').value === ''")
    _check(page, seen, "clip 2")
    assert Annotation.objects.count() == 1
    bad = {state: v for state, v in seen.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
    ctx.close()
