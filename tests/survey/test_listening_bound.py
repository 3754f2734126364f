"""Issue 13, defect 7: the server bounds the listening a submit claims per track by the time since
the item was shown (its own clock) plus a small tolerance, and refuses the impossible whole."""

from __future__ import annotations

import json

from survey import participation as P
from survey.models import Participant, Rating, TrialResponse
from tests.harness.bots import Bot


def test_thirty_seconds_of_listening_in_a_moment_is_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    resp = bot.submit(
        cfg,
        wait=False,
        ratings=[
            {"label": t["label"], "value": 50, "moved": True, "listening_s": 30.0}
            for t in cfg["tracks"]
        ],
    )
    assert resp.status_code == 400 and resp.json()["code"] == "impossible_listening"
    assert "30.0 s of listening" in resp.json()["error"]
    p = bot.participant
    assert p.progress == 0 and not Rating.objects.exists() and not TrialResponse.objects.exists()

    bot.let_time_pass(30.0)  # the same claim, once the item has been on screen that long
    resp = bot.submit(
        cfg,
        wait=False,
        ratings=[
            {"label": t["label"], "value": 50, "moved": True, "listening_s": 30.0}
            for t in cfg["tracks"]
        ],
    )
    assert resp.status_code == 200, resp.content
    assert Rating.objects.filter(participant=p).count() == len(cfg["tracks"])


def test_the_tolerance_is_small_and_only_one_track_needs_to_be_impossible(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    bot.let_time_pass(2.0)
    over = 2.0 + P.LISTEN_ELAPSED_TOLERANCE_S + 0.5
    ratings = [
        {"label": "A", "value": 50, "moved": True, "listening_s": 1.0},
        {"label": "B", "value": 50, "moved": True, "listening_s": over},
    ]
    resp = bot.submit(cfg, wait=False, ratings=ratings)
    assert resp.status_code == 400 and resp.json()["code"] == "impossible_listening"
    assert "track B" in resp.json()["error"]
    ratings[1]["listening_s"] = 2.0 + P.LISTEN_ELAPSED_TOLERANCE_S - 0.3  # within the tolerance
    assert bot.submit(cfg, wait=False, ratings=ratings).status_code == 200


def test_a_description_cannot_claim_more_listening_than_time(db, make_clip, alice):
    from survey import services
    from survey.models import Form, Study

    for i in range(3):
        make_clip(f"m{i}", captions=False)
    study = Study.objects.create(title="Describe", slug="describe", min_listen_s=1.0)
    form = services.form_create(
        study=study, name="a1", n_videos=2, kind=Form.Kind.ANNOTATION, min_description_chars=10
    )
    services.form_sample_trials(form=form)
    services.study_go_live(study=study)
    bot = Bot(study)
    bot.consent()
    bot.advance("instructions")  # annotation forms have no practice video
    cfg = bot.config()
    payload = {
        "index": cfg["index"],
        "submission_id": "00000000-0000-4000-8000-000000000001",
        "text": "A harbour at dawn with gulls.",
        "listening_s": 45.0,
    }
    resp = bot.client.post(
        f"/s/{study.slug}/run/submit/", json.dumps(payload), content_type="application/json"
    )
    assert resp.status_code == 400 and resp.json()["code"] == "impossible_listening"
    assert Participant.objects.get().progress == 0 and not TrialResponse.objects.exists()
