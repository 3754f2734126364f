"""A study in Arabic (right to left), walked in Chromium from the consent page to the code: the
browser asks for Arabic, every page is Arabic and right to left, the rating scale stays left to
right, the consent, trial and questionnaire pages pass axe, and the ratings are stored with
language "ar"."""

from __future__ import annotations

import pytest

from tests.browser.conftest import listen_and_rate, needs_chromium

pytestmark = needs_chromium

ARABIC = {
    "title": "دراسة الاستماع",
    "consent_text": "أوافق على المشاركة في دراسة الاستماع هذه.",
    "instructions_text": "شاهد كل فيديو مع كل مقطع موسيقي ثم قيّم مدى ملاءمته.",
    "question": "ما مدى ملاءمة هذه الموسيقى للفيديو؟",
    "scale_min_label": "لا تناسبه إطلاقًا",
    "scale_max_label": "تناسبه تمامًا",
}


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services
    from survey.models import StudyText

    small_study.min_listen_s = 0.6
    small_study.languages = ["en", "ar"]
    small_study.save()
    StudyText.objects.create(study=small_study, language="ar", **ARABIC)
    services.study_go_live(study=small_study)
    return small_study


def _axe(page):
    from axe_playwright_python.sync_playwright import Axe

    options = {
        "resultTypes": ["violations"],
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    }
    return [
        (v["id"], [n["target"] for n in v["nodes"]])
        for v in Axe().run(page, options=options).response["violations"]
    ]


def _rtl(page) -> None:
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")


def test_a_participant_takes_the_study_in_arabic(chromium, live_server, study, tmp_path):
    from survey.models import Participant, Rating

    ctx = chromium.new_context(
        locale="ar-EG",  # the browser's Accept-Language: ar-EG,ar
        viewport={"width": 390, "height": 844},
        bypass_csp=True,  # lets the test run axe; the policy itself is checked elsewhere
    )
    page = ctx.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=ar-1")
    _rtl(page)
    assert page.locator("h1").inner_text() == ARABIC["title"]
    assert ARABIC["consent_text"] in page.content()
    assert page.get_by_role("link", name="English").get_attribute("hreflang") == "en"
    page.screenshot(path=str(tmp_path / "consent-ar.png"))
    assert _axe(page) == []
    page.get_by_role("button", name="أوافق، ابدأ").click()

    page.wait_for_selector("h1:has-text('التعليمات')")
    _rtl(page)
    assert ARABIC["instructions_text"] in page.content()
    page.get_by_role("button", name="ابدأ الفيديو التدريبي").click()

    page.wait_for_selector("text=فيديو تدريبي (لا يُسجَّل)")
    _rtl(page)
    listen_and_rate(page, {"A": 30, "B": 70})
    page.get_by_role("button", name="ابدأ الدراسة").click()

    for n in (1, 2):
        page.wait_for_selector(f"text=الفيديو {n} من 2")
        _rtl(page)
        assert page.locator("#question").inner_text() == ARABIC["question"]
        listen_and_rate(page, {"A": 20 * n, "B": 100 - 20 * n})
        assert page.locator("#rA + .scale-labels output").inner_text() == str(20 * n)
        if n == 1:
            # mirrored: the track's name starts at the right; the 0-100 scale stays left to right
            row = page.locator(".rating").first.bounding_box()
            name = page.locator(".track-name").first.bounding_box()
            assert row["x"] + row["width"] - (name["x"] + name["width"]) < 20
            low = page.get_by_text(ARABIC["scale_min_label"]).first.bounding_box()
            high = page.get_by_text(ARABIC["scale_max_label"]).first.bounding_box()
            assert low["x"] < high["x"]
            assert page.locator("#rA").get_attribute("dir") == "ltr"
            assert _axe(page) == []
            page.screenshot(path=str(tmp_path / "trial-ar.png"), full_page=True)
        page.get_by_role("button", name="حفظ ومتابعة").click()

    page.wait_for_selector("h1:has-text('أوشكت على الانتهاء')")
    _rtl(page)
    assert _axe(page) == []
    page.select_option("#device", "headphones")
    page.get_by_role("button", name="إنهاء").click()
    page.wait_for_selector("[data-code]")
    _rtl(page)
    assert "شكرًا لك!" in page.locator("h1").inner_text()
    assert page.locator("[data-code]").inner_text() == study.completion_code

    p = Participant.objects.get(prolific_pid="ar-1")
    assert (p.status, p.language) == ("completed", "ar")
    stored = sorted(Rating.objects.filter(participant=p).values_list("value", "language"))
    assert stored == [(20, "ar"), (40, "ar"), (60, "ar"), (80, "ar")]
    ctx.close()
