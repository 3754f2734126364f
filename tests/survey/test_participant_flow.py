"""A bot participant walks the study through the real pages and tries what must fail."""

from __future__ import annotations

import re

import pytest

from survey.models import PageVisit, Participant, QualityCheck, Rating, TrialResponse


def test_it_walks_consent_to_completion(bot_factory, live_study):
    bot = bot_factory(PROLIFIC_PID="PID-1", STUDY_ID="S1", SESSION_ID="X1")
    resp = bot.consent()
    assert resp.status_code == 302
    p = bot.participant
    assert (p.prolific_pid, p.external_study_id, p.external_session_id) == ("PID-1", "S1", "X1")
    assert p.form is not None and p.consented_at is not None
    assert "Instructions" in bot.page().content.decode()
    bot.advance("instructions")
    cfg = bot.config()
    assert cfg["mode"] == "practice"
    bot.advance("practice")
    for i in range(2):
        cfg = bot.config()
        assert cfg["mode"] == "trial" and cfg["index"] == i
        resp = bot.submit(cfg)
        assert resp.status_code == 200 and resp.json()["status"] == "stored"
    page = bot.page().content.decode()
    assert "Almost done" in page
    resp = bot.client.post(
        f"/s/{live_study.slug}/run/questionnaire/", {"age_range": "25-34", "device": "headphones"}
    )
    assert resp.status_code == 302
    done = bot.page().content.decode()
    p.refresh_from_db()
    assert p.status == "completed" and p.completion_code == live_study.completion_code
    assert live_study.completion_code in done
    assert f"https://app.prolific.com/submissions/complete?cc={live_study.completion_code}" in done
    assert p.answers["device"] == "headphones"
    assert Rating.objects.filter(participant=p).count() == 4
    assert TrialResponse.objects.filter(participant=p).count() == 2
    assert PageVisit.objects.filter(participant=p).count() >= 4


def test_ratings_record_order_position_and_listening(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    bot.submit(cfg, values={"A": 10, "B": 90})
    p = bot.participant
    ratings = {r.position: r for r in Rating.objects.filter(participant=p)}
    assert (ratings[0].value, ratings[1].value) == (10, 90)
    assert ratings[0].trial_order == 0 and ratings[0].listening_s >= 1.0
    # the blind label order is this participant's own, and recorded
    trial_id = p.trial_order[0]
    assert [ratings[0].track_id, ratings[1].track_id] == p.label_order[str(trial_id)]


def test_the_same_prolific_pid_resumes_the_same_participant(bot_factory):
    first = bot_factory(PROLIFIC_PID="PID-2")
    first.to_trials()
    first.submit(first.config())
    again = bot_factory(PROLIFIC_PID="PID-2")  # another device, no cookie
    resp = again.client.get(f"/s/{again.study.slug}/", {"PROLIFIC_PID": "PID-2"})
    assert resp.status_code == 200  # the consent page, as for an unknown PID
    again.client.post(f"/s/{again.study.slug}/", {"PROLIFIC_PID": "PID-2", "consent": "yes"})
    assert again.participant.pk == first.participant.pk
    assert again.config()["index"] == 1  # at the first unfinished trial
    assert Participant.objects.filter(prolific_pid="PID-2").count() == 1


def test_declining_ends_with_its_own_code(bot_factory, live_study):
    bot = bot_factory(PROLIFIC_PID="PID-3")
    bot.consent("no")
    p = bot.participant
    assert p.status == "declined" and p.form is None
    page = bot.page().content.decode()
    assert live_study.decline_code in page and live_study.completion_code not in page


@pytest.mark.parametrize("status,code", [("draft", 403), ("closed", 410)])
def test_a_study_that_is_not_live_says_so(client, small_study, status, code):
    small_study.status = status
    small_study.save()
    resp = client.get("/s/small/")
    assert resp.status_code == code
    assert ("not started yet" if status == "draft" else "has closed") in resp.content.decode()


def test_what_must_fail(bot_factory, live_study):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    fails = {
        "out of range": bot.submit(cfg, values={"A": 101}),
        "negative": bot.submit(cfg, values={"A": -1}),
        "not a number": bot.submit(cfg, values={"A": "50"}),
        "not heard": bot.submit(
            cfg,
            ratings=[
                {"label": t["label"], "value": 50, "moved": True, "listening_s": 0.1}
                for t in cfg["tracks"]
            ],
        ),
        "not moved": bot.submit(
            cfg,
            ratings=[
                {"label": t["label"], "value": 50, "moved": False, "listening_s": 5}
                for t in cfg["tracks"]
            ],
        ),
        "another trial's track": bot.submit(
            cfg, ratings=[{"label": "C", "value": 50, "moved": True, "listening_s": 5}]
        ),
        "a later trial": bot.submit({**cfg, "index": 1}),
        "a bad id": bot.submit(cfg, sid="not-a-uuid"),
    }
    for what, resp in fails.items():
        assert resp.status_code in (400, 409), what
        assert resp.json()["ok"] is False and resp.json()["error"], what
    assert not Rating.objects.exists()
    ok = bot.submit(cfg)
    assert ok.status_code == 200


def test_a_resent_submit_stores_one_rating_and_an_old_one_is_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    sid = "6f1e5b52-3f0c-4d47-9b5b-6a7c3b8e2f10"
    assert bot.submit(cfg, sid=sid).json()["status"] == "stored"
    again = bot.submit(cfg, sid=sid)  # a retry of the same submit (lost response, double click)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    replay = bot.submit(cfg)  # the old trial with a new id: refused
    assert replay.status_code == 409 and replay.json()["code"] == "stale"
    assert Rating.objects.count() == 2


def test_no_rating_after_completion(bot_factory):
    bot = bot_factory()
    bot.complete()
    cfg = {"index": 1, "tracks": [{"label": "A", "required_s": 1}, {"label": "B", "required_s": 1}]}
    resp = bot.submit(cfg)
    assert resp.status_code == 409
    assert Rating.objects.count() == 4


def test_another_participants_code_opens_nothing(bot_factory, live_study):
    alice, mallory = bot_factory(), bot_factory()
    alice.to_trials()
    cfg = alice.config()
    mallory.to_trials()
    # mallory forges a cookie with alice's code (unsigned): the server does not recognise it
    mallory.client.cookies[f"msp_{live_study.pk}"] = alice.participant.code
    assert mallory.page().status_code == 302
    assert mallory.submit(cfg).status_code == 403
    # alice's media URLs do not open for mallory's session
    mallory2 = bot_factory()
    mallory2.to_trials()
    assert mallory2.client.get(cfg["video_url"]).status_code == 404
    assert mallory2.client.get(cfg["tracks"][0]["audio_url"]).status_code == 404
    assert alice.client.get(cfg["tracks"][0]["audio_url"]).status_code == 200


def test_media_is_served_with_range(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    resp = bot.client.get(cfg["video_url"], HTTP_RANGE="bytes=0-1023")
    assert resp.status_code == 206 and resp["Content-Type"] == "video/mp4"
    assert resp["Content-Range"].startswith("bytes 0-1023/")
    assert "Content-Disposition" not in resp


def test_nothing_on_the_page_names_a_condition(bot_factory, conditions):
    bot = bot_factory()
    bot.to_trials()
    resp = bot.page()
    html = resp.content.decode()
    names = [c.name for c in conditions.values()] + [c.label for c in conditions.values()]
    for name in names:
        assert not re.search(rf"\b{re.escape(name)}\b", html, re.I), name
    for t in bot.config()["tracks"]:
        media = bot.client.get(t["audio_url"])
        for header, value in media.items():
            assert not any(n.lower() in value.lower() for n in names), header


def test_starts_are_spread_over_the_forms(db, bot_factory, live_study, conditions):
    from survey import participation, services

    live_study.status = "draft"
    live_study.save()
    services.form_create(
        study=live_study, name="f2", n_videos=2, conditions=[conditions["video_caps"]]
    )
    services.form_sample_trials(form=live_study.forms.get(name="f2"), seed=1)
    services.study_go_live(study=live_study)
    live_study.refresh_from_db()
    for _ in range(9):
        participation.participant_start(study=live_study)
    counts = {f.name: f.participants.count() for f in live_study.forms.all()}
    assert sorted(counts.values()) == [4, 5]


def test_abandoned_slots_are_released(bot_factory, live_study):
    from datetime import timedelta

    from django.utils import timezone

    from survey import participation

    bot = bot_factory()
    bot.to_trials()
    Participant.objects.update(
        last_seen_at=timezone.now() - timedelta(minutes=live_study.abandon_after_minutes + 1)
    )
    assert participation.release_abandoned(study=live_study) == 1
    assert bot.participant.status == "abandoned"
    bot.page()  # the participant comes back: active again, nothing lost
    assert bot.participant.status == "active"


def test_headphone_check_screens_out_with_its_own_code(bot_factory, live_study):
    from survey import participation

    live_study.headphone_check = True
    live_study.save()
    bot = bot_factory()
    bot.consent()
    bot.advance("instructions")
    bot.advance("practice")
    assert "Headphone check" in bot.page().content.decode()
    audio = bot.client.get(f"/s/{live_study.slug}/run/headphones/0.wav")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    plan = participation.headphone_plan(bot.participant)
    wrong = {f"hp{i}": (p + 1) % 3 for i, p in enumerate(plan)}
    bot.client.post(f"/s/{live_study.slug}/run/headphones/", wrong)
    p = bot.participant
    assert p.status == "screened_out" and p.headphone_passed is False
    assert live_study.screenout_code in bot.page().content.decode()
    assert QualityCheck.objects.get(participant=p).passed is False


def test_headphone_check_passes_to_the_trials(bot_factory, live_study):
    from survey import participation

    live_study.headphone_check = True
    live_study.save()
    bot = bot_factory()
    bot.consent()
    bot.advance("instructions")
    bot.advance("practice")
    plan = participation.headphone_plan(bot.participant)
    answers = {f"hp{i}": p for i, p in enumerate(plan)}
    answers["hp0"] = (plan[0] + 1) % 3  # one mistake still passes (5 of 6)
    bot.client.post(f"/s/{live_study.slug}/run/headphones/", answers)
    assert bot.participant.headphone_passed is True
    assert bot.config()["mode"] == "trial"


def test_attention_trials_are_recorded(bot_factory, live_study):
    live_study.attention_trials = 1
    live_study.save()
    bot = bot_factory()
    bot.to_trials()
    seen = []
    while 'id="trial-config"' in bot.page().content.decode():
        cfg = bot.config()
        seen.append(cfg["mode"])
        values = {"A": 0} if cfg["mode"] == "attention" else None
        assert bot.submit(cfg, values=values).status_code == 200
    assert sorted(seen) == ["attention", "trial", "trial"] and seen[0] == "trial"
    check = QualityCheck.objects.get(kind="attention")
    assert check.passed is True
    assert Rating.objects.count() == 4  # attention checks add no ratings


def test_minimum_time_per_trial(bot_factory, live_study):
    live_study.min_trial_s = 30
    live_study.save()
    bot = bot_factory()
    bot.to_trials()
    resp = bot.submit(bot.config())
    assert resp.status_code == 400 and resp.json()["code"] == "too_fast"
