"""The participant's hot path: a trial submit answers with the next item, which the trial page
shows without a page load, and costs a fixed, small number of queries (pinned here so that it
cannot grow unnoticed)."""

from __future__ import annotations

import random

from django.db import connection
from django.test.utils import CaptureQueriesContext

from survey import participation as P
from survey.models import PageVisit, Participant, Rating, TrialResponse

# SELECT participant+study, then in one transaction (a savepoint inside the test's transaction)
# the conditional UPDATE of the participant and the inserts: the trial response, the ratings.
# The tracks' durations are read once per server process (one more SELECT the first time).
SUBMIT_QUERIES = 6
# A consent: the study, the recruiter id's earlier session; before the lock, abandoned slots
# freed, the forms with their counts, the guessed form's sequence (the practice tracks; the
# trials and their tracks are read once per process for a live study's form); under the
# study's row lock only the lock, the counts again and the insert. Was 18 (all of it under the
# lock), then 16, 17 (one more query buys a short lock), now 15 from a process's second consent.
CONSENT_QUERIES = 15
LOCKED_CONSENT_QUERIES = 3


def test_it_stores_a_trial_with_a_fixed_number_of_queries(bot_factory):
    bot = bot_factory(PROLIFIC_PID="hot-1")
    bot.to_trials()
    cfg = bot.config()
    bot.let_time_pass(1.0)
    with CaptureQueriesContext(connection) as first:
        answer = bot.submit(cfg, wait=False).json()
    assert answer["status"] == "stored"
    # the first submit of this process reads the durations of both items' tracks
    assert [q["sql"].split(" ")[0] for q in first.captured_queries].count("SELECT") == 2
    bot.let_time_pass(1.0)
    with CaptureQueriesContext(connection) as queries:
        resp = bot.submit(answer["next"], wait=False)
    assert resp.status_code == 200 and resp.json()["status"] == "stored"
    sql = [q["sql"].split(" ")[0] for q in queries.captured_queries]
    assert len(queries.captured_queries) == SUBMIT_QUERIES, sql
    assert sql.count("UPDATE") == 1 and sql.count("SELECT") == 1 and sql.count("INSERT") == 2


def test_the_durations_a_process_remembers_are_the_tracks_own(bot_factory, live_study):
    """The remembered durations bound the listening a submit must report, as the database's do:
    a process that has forgotten them asks again."""
    bot = bot_factory(PROLIFIC_PID="hot-4")
    bot.to_trials()
    cfg = bot.config()
    ids = set(bot.participant.label_order[str(bot.participant.trial_order[0])])
    P.forget_track_durations()
    from generation.models import Track

    expected = dict(Track.objects.filter(pk__in=ids).values_list("id", "duration_s"))
    assert P._track_durations(ids) == expected
    required = sorted(t["required_s"] for t in cfg["tracks"])
    assert required == sorted(min(live_study.min_listen_s, d) for d in expected.values())
    bot.let_time_pass(1.0)
    heard_little = [
        {"label": t["label"], "value": 50, "moved": True, "listening_s": 0.1} for t in cfg["tracks"]
    ]
    resp = bot.submit(cfg, wait=False, ratings=heard_little)
    assert resp.status_code == 400 and resp.json()["code"] == "not_heard"


def test_the_answer_carries_the_next_item_shown_from_then(bot_factory, live_study):
    bot = bot_factory(PROLIFIC_PID="hot-2")
    bot.to_trials()
    first = bot.config()
    bot.let_time_pass(1.0)
    answer = bot.submit(first, wait=False).json()
    nxt = answer["next"]
    assert (nxt["mode"], nxt["index"], nxt["total"]) == ("trial", 1, 2)
    assert [t["label"] for t in nxt["tracks"]] == ["A", "B"]
    assert nxt["progress_text"] == "Video 2 of 2" and nxt["prompt"] == live_study.question
    p = bot.participant
    assert (p.progress, p.item_started_index) == (1, 1) and p.item_started_at is not None
    shown_at = p.item_started_at
    # shown without a page load: no page visit; when it was shown is kept on the participant,
    # and then on its trial response
    assert not PageVisit.objects.filter(participant=p, sequence_index=1).exists()
    # the page loaded now shows the same item, with the same media links
    page = bot.config()
    assert page["index"] == 1 and page["video_url"] == nxt["video_url"]
    assert [t["audio_url"] for t in page["tracks"]] == [t["audio_url"] for t in nxt["tracks"]]
    # the next item submitted straight from the answer (no page load) is stored; the last one
    # answers without a next item and leads to the questionnaire
    p.refresh_from_db()
    Participant.objects.filter(pk=p.pk).update(
        item_started_at=p.item_started_at.replace(year=p.item_started_at.year - 1)
    )
    last = bot.submit(nxt, wait=False).json()
    assert last["status"] == "stored" and "next" not in last
    p.refresh_from_db()
    assert p.stage == Participant.Stage.QUESTIONNAIRE and p.progress == 2
    assert Rating.objects.filter(participant=p).count() == 4
    assert TrialResponse.objects.filter(participant=p).count() == 2
    second = TrialResponse.objects.get(participant=p, sequence_index=1)
    assert second.shown_at == shown_at.replace(year=shown_at.year - 1)


def test_an_attention_item_comes_next_with_its_one_track(bot_factory, live_study):
    live_study.attention_trials = 1
    live_study.save()
    bot = bot_factory(PROLIFIC_PID="hot-3")
    bot.to_trials()
    first = bot.config()
    assert first["index"] == 0 and first["mode"] == "trial"  # a check never comes first
    bot.let_time_pass(1.0)
    nxt = bot.submit(first, wait=False).json()["next"]
    if nxt["mode"] != "attention":  # the check is the third item
        bot.let_time_pass(1.0)
        nxt = bot.submit(nxt, wait=False).json()["next"]
    assert nxt["mode"] == "attention" and len(nxt["tracks"]) == 1
    assert nxt["prompt"].startswith("Attention check")
    assert bot.config()["mode"] == "attention"


def test_the_practice_advance_reads_no_form_and_a_repeat_changes_nothing(bot_factory):
    bot = bot_factory(PROLIFIC_PID="hot-5")
    bot.consent()
    assert bot.advance("instructions").status_code == 302
    with CaptureQueriesContext(connection) as queries:
        assert bot.advance("practice").status_code == 302
    sql = [q["sql"] for q in queries.captured_queries]
    # the lookup and the conditional move (was 5: the study, the participant, the form, the
    # move, the participant again)
    assert len(sql) == 2 and sql[1].startswith("UPDATE"), sql
    assert bot.participant.stage == Participant.Stage.TRIALS
    assert bot.advance("practice").status_code == 302  # a resend: changes nothing
    assert bot.advance("instructions").status_code == 302
    p = bot.participant
    assert (p.stage, p.progress) == (Participant.Stage.TRIALS, 0)


def test_consent_assigns_the_least_loaded_form_in_a_fixed_number_of_queries(
    bot_factory, live_study
):
    first = bot_factory(PROLIFIC_PID="hot-6")
    first.consent()
    with CaptureQueriesContext(connection) as queries:
        second = bot_factory(PROLIFIC_PID="hot-7")
        assert second.consent().status_code == 302
    forms = {first.participant.form_id, second.participant.form_id}
    assert len(forms) == min(2, live_study.forms.count())
    assert len(queries.captured_queries) == CONSENT_QUERIES, [
        q["sql"][:60] for q in queries.captured_queries
    ]


def test_a_consent_holds_the_studys_lock_for_three_queries(bot_factory, live_study):
    """Consents queue on the study's row lock (a Prolific study going live sends hundreds at
    once): under it only the lock, the forms' counts and the insert; the rest is done before."""
    bot_factory(PROLIFIC_PID="lock-1").consent()
    with CaptureQueriesContext(connection) as queries:
        assert bot_factory(PROLIFIC_PID="lock-2").consent().status_code == 302
    sql = [q["sql"] for q in queries.captured_queries]
    # The locked section is the atomic block: a savepoint inside the test's transaction.
    start = next(i for i, q in enumerate(sql) if q.startswith("SAVEPOINT"))
    end = next(i for i, q in enumerate(sql) if q.startswith("RELEASE SAVEPOINT"))
    locked = sql[start + 1 : end]
    assert len(locked) == LOCKED_CONSENT_QUERIES, locked
    assert '"survey_study"' in locked[0] and locked[-1].startswith("INSERT"), locked


def test_a_live_forms_design_is_read_once_per_process_and_is_the_forms_own(bot_factory, live_study):
    """The kept design draws what the database's would: each trial with its own tracks."""
    bots = [bot_factory(PROLIFIC_PID=f"design-{i}") for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        for bot in bots:
            bot.consent()
    design_reads = [q["sql"] for q in queries.captured_queries if '"survey_trialtrack"' in q["sql"]]
    assert len(design_reads) == 1, design_reads  # the first consent only
    expected = {
        str(t.pk): sorted(t.trial_tracks.values_list("track_id", flat=True))
        for f in live_study.forms.all()
        for t in f.trials.all()
    }
    for bot in bots:
        p = bot.participant
        assert {str(t) for t in p.trial_order if t > 0} <= set(expected)
        assert {k: sorted(v) for k, v in p.label_order.items()} == {
            k: expected[k] for k in p.label_order
        }


def test_a_drafts_design_is_read_at_every_consent(small_study):
    """A draft's design can still change: a process keeps nothing of it."""
    form = small_study.forms.get()
    P._sequence(form, small_study, random.Random(1))
    assert form.pk not in P._designs
