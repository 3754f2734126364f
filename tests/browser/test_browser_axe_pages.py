"""axe-core (WCAG 2.1 A and AA, 0 violations) on the participant pages that a walk does not
reach, at a phone's and a desktop's size, each page opened by URL in the state made for it
through the services: consent, declined, study full, study closed, study not open (403), a link
without the recruiter's id (400), an unknown study (404). The walk's own pages (instructions,
practice, trials, questionnaire, completion) are checked in test_browser_trial.py."""

from __future__ import annotations

import pytest

from tests.browser.test_browser_trial import _axe

pytestmark = [pytest.mark.browser]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    services.study_go_live(study=small_study)
    return small_study


def test_every_other_participant_page_passes_axe_at_both_sizes(chromium, live_server, study):
    from survey.models import Participant, Study

    base = f"{live_server.url}/s/{study.slug}/"
    pages = {}  # state -> (url or callable, expected status)

    def visit(page, state, url, status):
        answer = page.goto(url)
        assert answer.status == status, (state, answer.status)
        pages[state] = _axe(page)

    contexts = {size: chromium.new_context(viewport=vp) for size, vp in SIZES.items()}
    try:
        for size, ctx in contexts.items():
            page = ctx.new_page()
            seen = {}
            visit(page, "consent", base, 200)
            seen["consent"] = pages["consent"]
            page.get_by_role("button", name="I do not agree").click()
            page.wait_for_load_state()
            seen["declined"] = _axe(page)
            ctx.clear_cookies()
            Study.objects.filter(pk=study.pk).update(target_per_form=0)
            visit(page, "full", base, 200)
            assert page.locator("main, body").first.inner_text(), "empty page"
            seen["full"] = pages["full"]
            Study.objects.filter(pk=study.pk).update(target_per_form=10, require_recruiter_id=True)
            visit(page, "400", base, 400)
            seen["400 (no recruiter id)"] = pages["400"]
            Study.objects.filter(pk=study.pk).update(require_recruiter_id=False)
            Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
            visit(page, "closed", base, 410)
            seen["closed (410)"] = pages["closed"]
            Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
            visit(page, "draft", base, 403)
            seen["not open (403)"] = pages["draft"]
            Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
            visit(page, "404", f"{live_server.url}/s/no-such-study/", 404)
            seen["404"] = pages["404"]
            bad = {state: v for state, v in seen.items() if v}
            assert not bad, (size, bad)
        assert Participant.objects.filter(status=Participant.Status.DECLINED).count() == 2
    finally:
        for ctx in contexts.values():
            ctx.close()
