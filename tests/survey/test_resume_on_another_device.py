"""Issue 13, defect 3: a participant who comes back with the same PROLIFIC_PID on a fresh device
(no cookies at all) gets back to the page they were at, and every save from it passes the CSRF
check.
The clients here enforce CSRF the way a browser meets it (the token from the csrftoken cookie)."""

from __future__ import annotations

import json
import uuid

from django.test import Client

from survey.models import Participant, Rating


def _fresh_device(study, pid: str) -> Client:
    """A browser with no cookie follows the recruiter's link and agrees again (the consent page
    is the same for known and unknown ids; agreeing resumes the participant)."""
    client = Client(enforce_csrf_checks=True)
    resp = client.get(f"/s/{study.slug}/", {"PROLIFIC_PID": pid})
    assert resp.status_code == 200
    resp = client.post(
        f"/s/{study.slug}/",
        {"PROLIFIC_PID": pid, "consent": "yes", "csrfmiddlewaretoken": _token(client)},
    )
    assert resp.status_code == 302 and resp["Location"].endswith("/run/")
    return client


def _page(client: Client, study):
    resp = client.get(f"/s/{study.slug}/run/")
    assert resp.status_code == 200
    return resp


def _token(client: Client) -> str:
    assert "csrftoken" in client.cookies, "the page set no CSRF cookie: every save would be 403"
    return client.cookies["csrftoken"].value


def test_a_resumed_participant_can_leave_the_practice_and_save_trials(bot_factory, live_study):
    first = bot_factory(PROLIFIC_PID="moving-1")
    first.consent()
    first.advance("instructions")  # now on the practice page, on the first device

    second = _fresh_device(live_study, "moving-1")
    assert "Practice video" in _page(second, live_study).content.decode()
    resp = second.post(
        f"/s/{live_study.slug}/run/advance/",
        {"stage": "practice"},
        HTTP_X_CSRFTOKEN=_token(second),
    )
    assert resp.status_code == 302
    assert first.participant.stage == Participant.Stage.TRIALS

    third = _fresh_device(live_study, "moving-1")  # and once more, now in the trials
    html = _page(third, live_study).content.decode()
    assert 'id="trial-config"' in html
    first.client = third  # the bot reads the page and builds the submit; the new device sends it
    cfg = first.config()
    first.let_time_pass(max(t["required_s"] for t in cfg["tracks"]))
    payload = {
        "index": cfg["index"],
        "submission_id": str(uuid.uuid4()),
        "ratings": [
            {"label": t["label"], "value": 40, "moved": True, "listening_s": t["required_s"]}
            for t in cfg["tracks"]
        ],
        "events": [],
    }
    resp = third.post(
        f"/s/{live_study.slug}/run/submit/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=_token(third),
    )
    assert resp.status_code == 200, resp.content
    assert Rating.objects.filter(participant__prolific_pid="moving-1").count() == 2


def test_every_participant_page_that_posts_sets_the_csrf_cookie(bot_factory, live_study):
    """Whatever stage a participant is at, their page can post even when the browser holds only
    the participant's own cookie (a restored session, a cleared csrftoken): the page sets it."""
    bot = bot_factory(PROLIFIC_PID="moving-2")
    bot.consent()
    seen = []
    for stage in ("instructions", "practice", None):
        device = Client(enforce_csrf_checks=True)
        name = f"msp_{live_study.pk}"
        device.cookies[name] = bot.client.cookies[name].value
        assert "csrftoken" not in device.cookies
        _page(device, live_study)
        _token(device)
        seen.append(bot.participant.stage)
        if stage:
            bot.advance(stage)
    assert seen == ["instructions", "practice", "trials"]
