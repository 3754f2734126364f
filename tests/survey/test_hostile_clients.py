"""Hostile clients on a live study: PID/cookie mixing, declining for someone else, telling known
from unknown PIDs, bots filling the study, recruiter id formats, OPTIONS/TRACE, stale cookies."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from survey import throttle
from survey.models import PageVisit, Participant
from tests.harness.bots import Bot

PID_A, PID_E = "a" * 24, "e" * 24


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


# -- finding 4: a PROLIFIC_PID is not a key to someone else's session ----------------------------


def test_a_cookie_for_a_with_the_pid_of_e_is_not_resumed_as_a(bot_factory, live_study):
    a = bot_factory(PROLIFIC_PID=PID_A)
    a.to_trials()
    resp = a.client.get(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_E})
    assert resp.status_code == 200 and b'name="consent"' in resp.content  # E's consent page
    a.client.post(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_E, "consent": "yes"})
    e = Participant.objects.get(prolific_pid=PID_E)
    assert e.pk != Participant.objects.get(prolific_pid=PID_A).pk
    assert a.participant.pk == e.pk  # this browser is now E's, and A is untouched
    assert Participant.objects.get(prolific_pid=PID_A).progress == 0


def test_declining_with_a_pid_that_has_a_session_leaves_it_alone(bot_factory, live_study):
    owner = bot_factory(PROLIFIC_PID=PID_A)
    owner.to_trials()
    attacker = Client()
    attacker.post(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_A, "consent": "no"})
    victim = Participant.objects.get(prolific_pid=PID_A)
    assert victim.status == Participant.Status.ACTIVE and victim.stage == "trials"
    # the attacker's browser holds a decline record of its own, not the victim's session
    code = attacker.cookies[f"msp_{live_study.pk}"].value.split(":")[0]
    assert Participant.objects.get(code=code).pk != victim.pk
    assert owner.submit(owner.config()).status_code == 200


def test_declining_in_advance_with_someone_elses_pid_does_not_lock_them_out(live_study):
    Client().post(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_E, "consent": "no"})
    real = Bot(live_study, PROLIFIC_PID=PID_E)
    real.to_trials()
    assert real.participant.status == Participant.Status.ACTIVE
    assert real.participant.prolific_pid == PID_E


def test_the_entry_page_does_not_tell_known_from_unknown_pids(bot_factory, live_study):
    bot_factory(PROLIFIC_PID=PID_A).to_trials()
    url = f"/s/{live_study.slug}/"
    known = Client().get(url, {"PROLIFIC_PID": PID_A})
    unknown = Client().get(url, {"PROLIFIC_PID": PID_E})
    assert known.status_code == unknown.status_code == 200
    assert _same_shape(known.content, unknown.content)


def _same_shape(a: bytes, b: bytes) -> bool:
    import re

    def norm(x: bytes) -> bytes:
        x = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", x)
        return re.sub(rb"[0-9a-f]{24}", b"PID", x)

    return norm(a) == norm(b)


# -- finding 1: bots cannot fill a study -----------------------------------------------------------


def test_a_direct_consent_post_does_not_start_anyone_in_a_full_study(live_study):
    live_study.target_per_form = 1
    live_study.save()
    Bot(live_study).complete()
    resp = Client().post(f"/s/{live_study.slug}/", {"consent": "yes"})
    assert resp.status_code == 200
    assert b"all the responses it needs" in resp.content
    assert Participant.objects.count() == 1


def test_a_completion_flagged_as_inhumanly_fast_does_not_fill_the_study(live_study):
    """A bot that completes at a pace no person can is excluded by the report's screening: it
    must not take a real participant's place either (the study stays open, and the form's load
    for assignment does not count it)."""
    live_study.target_per_form = 1
    live_study.save()
    Bot(live_study).complete()
    bot = Participant.objects.get()
    Participant.objects.filter(pk=bot.pk).update(timing_flag="item 0: answered in 0.1 s")
    person = Client()
    resp = person.post(f"/s/{live_study.slug}/", {"consent": "yes"})
    assert b"all the responses it needs" not in resp.content
    assert Participant.objects.count() == 2
    Participant.objects.filter(pk=bot.pk).update(timing_flag="")  # a plausible pace: it counts
    resp = Client().post(f"/s/{live_study.slug}/", {"consent": "yes"})
    assert b"all the responses it needs" in resp.content and Participant.objects.count() == 2


def test_a_full_study_still_lets_a_started_pid_continue(live_study):
    live_study.target_per_form = 1
    live_study.save()
    started = Bot(live_study, PROLIFIC_PID=PID_A)
    started.to_trials()
    Bot(live_study).complete()
    phone = Client()
    resp = phone.get(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_A})
    assert b"all the responses it needs" in resp.content
    phone.post(f"/s/{live_study.slug}/", {"PROLIFIC_PID": PID_A, "consent": "yes"})
    assert phone.get(f"/s/{live_study.slug}/run/").status_code == 200
    assert Participant.objects.count() == 2


def test_the_sliding_window_never_lets_more_than_the_limit_through_an_edge():
    # a fixed window let 2 x limit through: `limit` at the end of one window, `limit` at the
    # start of the next. Every 60 s interval here sees at most `limit`.
    # `edge` is a multiple of 60 s, where a fixed window starts afresh (1,000,000 is not one:
    # bursts at 1,000,059.9 and 1,000,060.1 fall in one fixed window and prove nothing).
    limit, edge = 10, 60.0 * 16_667

    def burst(at: float) -> int:
        return sum(throttle.hit("t", "k", limit=limit, window_s=60, now=at) for _ in range(10))

    assert burst(edge - 0.1) == 10 and burst(edge + 0.1) == 0
    assert burst(edge + 30.0) == 0  # still inside the minute after the burst
    assert burst(edge - 0.1 + 66.1) == 10  # the burst has left the window


def test_starts_are_capped_per_client_and_per_study(live_study, settings):
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_STARTS_PER_CLIENT_PER_10MIN = 3
    url = f"/s/{live_study.slug}/"
    codes = [Client().post(url, {"consent": "yes"}).status_code for _ in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    # many addresses: the study's own cap holds
    settings.RATELIMIT_STARTS_PER_CLIENT_PER_10MIN = 100
    live_study.max_starts_per_minute = 5
    live_study.save()
    codes = [
        Client(REMOTE_ADDR=f"10.0.0.{i}").post(url, {"consent": "yes"}).status_code
        for i in range(8)
    ]
    assert codes.count(302) == 2 and codes.count(429) == 6  # 3 + 2 = the study's 5 a minute
    assert Participant.objects.count() == 5


def test_a_study_that_requires_recruiter_ids_checks_the_prolific_format(live_study):
    live_study.require_recruiter_id = True
    live_study.save()
    url = f"/s/{live_study.slug}/"
    assert Client().get(url).status_code == 400
    resp = Client().get(url, {"PROLIFIC_PID": "not-a-prolific-id"})
    assert resp.status_code == 400 and b"24 hexadecimal" in resp.content
    assert Client().post(url, {"PROLIFIC_PID": "x" * 24, "consent": "yes"}).status_code == 400
    assert Client().get(url, {"PROLIFIC_PID": "5f" * 12}).status_code == 200
    assert Participant.objects.count() == 0


# -- finding 5: OPTIONS/TRACE and server-side cookie expiry -----------------------------------


def test_options_and_trace_neither_render_nor_count(bot_factory, live_study):
    bot = bot_factory()
    bot.to_trials()
    before = PageVisit.objects.count()
    for path in ("", "run/"):
        for method in ("options", "trace"):
            resp = getattr(bot.client, method)(f"/s/{live_study.slug}/{path}")
            assert resp.status_code == 405, (method, path, resp.status_code)
            assert b"<form" not in resp.content
    assert PageVisit.objects.count() == before


def test_a_participant_cookie_expires_on_the_server(bot_factory, live_study, settings):
    bot = bot_factory()
    bot.to_trials()
    assert bot.page().status_code == 200
    settings.PARTICIPANT_COOKIE_MAX_AGE_S = 1
    time.sleep(2.1)  # the browser still sends the cookie; the server no longer honours it
    resp = bot.page()
    assert resp.status_code == 302 and resp["Location"].endswith(f"/s/{live_study.slug}/")
