"""Issue 13, the participant crawler: every participant URL (found in the URLconf), in every stage,
for a participant of each kind of form (rating with its practice video, a headphone check and
attention items; annotation), on their own device and on a fresh one that resumes by PROLIFIC_PID.

Nothing answers 5xx, whatever is sent; and the page a participant lands on always has a way
forward: a form, a link, a completion code, or the trial page's own save button. Only a visitor
who is not a participant may meet a page that ends there (a study not open, or full).

A participant view added to ``survey.views`` is crawled without changing this file; one whose URL
takes a parameter the crawler cannot fill fails here until it is taught (``_arguments``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from survey import participation as P
from survey import services
from survey.models import Form, Participant, Study
from tests.harness.bots import Bot


def _participant_urls() -> list[URLPattern]:
    """Every URL whose view lives in ``survey.views``: the participant's side of the site."""

    def walk(patterns) -> Iterator[URLPattern]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns)
            elif getattr(p.callback, "__module__", "") == "survey.views":
                yield p

    found = list(walk(get_resolver().url_patterns))
    assert {p.name for p in found} >= {"study-entry", "study-run", "study-submit"}, found
    return found


def _tokens(html: str) -> list[str]:
    return re.findall(r"/m/([0-9a-f]{40})", html)


def _arguments(pattern: URLPattern, study: Study, tokens: list[str]) -> list[dict]:
    """Values to fill each of the URL's parameters with: the right ones and wrong ones."""
    names = list(pattern.pattern.converters)
    choices: dict[str, list] = {
        "slug": [study.slug],
        "index": [0, P.HEADPHONE_TRIALS - 1, P.HEADPHONE_TRIALS, 999],
        "token": [*tokens[:3], "0" * 40, "not-a-token"],
    }
    unknown = [n for n in names if n not in choices]
    assert not unknown, f"teach the crawler how to fill {unknown} of {pattern.name}"
    combos: list[dict] = [{}]
    for name in names:
        combos = [{**c, name: v} for c in combos for v in choices[name]]
    return combos


def _way_forward(html: str) -> bool:
    return bool(
        re.search(r"<form\b", html)
        or re.search(r"<a\b[^>]*\bhref=\"[^\"#]", html)
        or "data-code" in html
        or ('id="trial-config"' in html and 'data-action="next"' in html)
    )


def _land(client: Client, study: Study):
    """The page a participant lands on from the study's link (redirects followed)."""
    return client.get(f"/s/{study.slug}/", follow=True)


def _fresh_device(study: Study, pid: str) -> Client:
    """A browser without cookies that follows the recruiter's link and agrees again (which is
    how a known PROLIFIC_PID resumes)."""
    client = Client()
    client.get(f"/s/{study.slug}/", {"PROLIFIC_PID": pid})
    client.post(f"/s/{study.slug}/", {"PROLIFIC_PID": pid, "consent": "yes"})
    return client


def _crawl(client: Client, study: Study, *, where: str) -> list[str]:
    """Visit and post to every participant URL as this client; the database is left as it was."""
    problems: list[str] = []
    is_participant = f"msp_{study.pk}" in client.cookies
    with transaction.atomic():
        landed = _land(client, study)
        html = landed.content.decode()
        if landed.status_code >= 500:
            problems.append(f"{where}: landing answered {landed.status_code}")
        elif is_participant and not _way_forward(html):
            problems.append(f"{where}: a dead end at {landed.request['PATH_INFO']}: {html[:300]}")
        elif not is_participant and landed.status_code == 200 and not _way_forward(html):
            if "all the responses it needs" not in html:  # a full study ends there
                problems.append(f"{where}: a visitor's dead end: {html[:300]}")
        tokens = _tokens(html)
        for pattern in _participant_urls():
            for kwargs in _arguments(pattern, study, tokens):
                url = reverse(pattern.name, kwargs=kwargs)
                answers = [
                    ("GET", client.get(url)),
                    ("POST form", client.post(url, {"stage": "bogus", "hp0": "x"})),
                    (
                        "POST json",
                        client.post(url, json.dumps({"index": "0"}), content_type="text/plain"),
                    ),
                ]
                for method, resp in answers:
                    if resp.status_code >= 500:
                        problems.append(f"{where}: {method} {url} answered {resp.status_code}")
        transaction.set_rollback(True)
    return problems


@pytest.fixture
def rating_study(db, conditions, make_clip, clone_track):
    """Two videos x two conditions, the practice video, a headphone check and an attention item."""
    for i in range(3):
        clip = make_clip(f"r{i}", captions=False)
        for name in ("video_caps", "msi"):
            clone_track(clip, conditions[name])
    study = Study.objects.create(
        title="Rate",
        slug="rate",
        min_listen_s=1.0,
        headphone_check=True,
        attention_trials=1,
        completion_redirect_url="https://app.prolific.com/submissions/complete?cc={code}",
    )
    form = services.form_create(
        study=study, name="f1", n_videos=2, conditions=[conditions["video_caps"], conditions["msi"]]
    )
    services.form_sample_trials(form=form, seed=1)
    services.study_go_live(study=study)
    return study


@pytest.fixture
def annotation_study(db, make_clip):
    for i in range(3):
        make_clip(f"a{i}", captions=False)
    study = Study.objects.create(title="Describe", slug="describe", min_listen_s=1.0)
    form = services.form_create(
        study=study, name="a1", n_videos=2, kind=Form.Kind.ANNOTATION, min_description_chars=10
    )
    services.form_sample_trials(form=form)
    services.study_go_live(study=study)
    return study


def _answer_current_item(bot: Bot) -> None:
    cfg = bot.config()
    if cfg["mode"] == "annotation":
        bot.let_time_pass(cfg["tracks"][0]["required_s"])
        resp = bot.client.post(
            f"/s/{bot.study.slug}/run/submit/",
            json.dumps(
                {
                    "index": cfg["index"],
                    "submission_id": str(uuid.uuid4()),
                    "text": "A harbour at dawn, gulls over the water.",
                    "listening_s": cfg["tracks"][0]["required_s"],
                }
            ),
            content_type="application/json",
        )
    else:
        resp = bot.submit(cfg, values={t["label"]: 0 for t in cfg["tracks"]})
    assert resp.status_code == 200, resp.content


def _stages(bot: Bot) -> Iterator[str]:
    """Walk ``bot`` through the study, yielding at every stage (and at every item)."""
    study = bot.study
    yield "entry (not yet a participant)"
    bot.consent()
    p = bot.participant
    yield "instructions"
    bot.advance("instructions")
    if p.form.kind == Form.Kind.RATING:
        yield "practice"
        bot.advance("practice")
    if study.headphone_check:
        yield "headphone check"
        plan = P.headphone_plan(bot.participant)
        bot.client.post(
            f"/s/{study.slug}/run/headphones/", {f"hp{i}": a for i, a in enumerate(plan)}
        )
    for i in range(len(bot.participant.trial_order)):
        kind = P.participant_item(participant=bot.participant, index=i).kind
        yield f"item {i} ({kind})"
        _answer_current_item(bot)
    yield "questionnaire"
    bot.client.post(f"/s/{study.slug}/run/questionnaire/", {"device": "headphones"})
    assert bot.participant.status == Participant.Status.COMPLETED
    yield "completed"


@pytest.mark.parametrize("kind", ["rating", "annotation"])
def test_every_participant_url_in_every_stage(kind, request):
    study = request.getfixturevalue(f"{kind}_study")
    pid = f"crawl-{kind}"
    bot = Bot(study, PROLIFIC_PID=pid)
    problems: list[str] = []
    seen = []
    for stage in _stages(bot):
        seen.append(stage)
        problems += _crawl(bot.client, study, where=f"{stage}, own device")
        if f"msp_{study.pk}" in bot.client.cookies:
            problems += _crawl(_fresh_device(study, pid), study, where=f"{stage}, fresh device")
        problems += _crawl(Client(), study, where=f"{stage}, a stranger")
    assert problems == [], "\n".join(problems)
    assert "questionnaire" in seen and "completed" in seen
    if kind == "rating":
        assert {"practice", "headphone check"} <= set(seen)
        assert any("(attention)" in s for s in seen) and any("(trial)" in s for s in seen)


def test_participants_who_ended_otherwise_and_a_study_that_closed(rating_study):
    """Declined, screened out, abandoned, and caught mid-study by the study closing."""
    study = rating_study
    declined = Bot(study, PROLIFIC_PID="no")
    declined.consent("no")
    screened = Bot(study, PROLIFIC_PID="deaf")
    screened.consent()
    screened.advance("instructions")
    screened.advance("practice")
    plan = P.headphone_plan(screened.participant)
    screened.client.post(
        f"/s/{study.slug}/run/headphones/", {f"hp{i}": (a + 1) % 3 for i, a in enumerate(plan)}
    )
    assert screened.participant.status == Participant.Status.SCREENED_OUT
    away = Bot(study, PROLIFIC_PID="away")
    away.consent()
    away.advance("instructions")
    Participant.objects.filter(pk=away.participant.pk).update(
        last_seen_at=away.participant.last_seen_at - timedelta(days=2)
    )
    assert P.release_abandoned(study=study) == 1
    midway = Bot(study, PROLIFIC_PID="midway")
    midway.consent()

    problems: list[str] = []
    for state in ("live", "closed"):
        if state == "closed":
            services.study_close(study=study)
        for name, bot in (("declined", declined), ("screened out", screened), ("abandoned", away)):
            pid = bot.query["PROLIFIC_PID"]
            problems += _crawl(bot.client, study, where=f"{name}, {state}, own device")
            problems += _crawl(
                _fresh_device(study, pid), study, where=f"{name}, {state}, fresh device"
            )
        problems += _crawl(midway.client, study, where=f"mid-study, {state} study")
        problems += _crawl(Client(), study, where=f"a stranger, {state}")
    assert problems == [], "\n".join(problems)
