"""Crafted input against the participant endpoints: each answers a clear 4xx, never a 5xx, and
nothing of it is stored. Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://...): a NUL
byte is stored by SQLite but refused by PostgreSQL, so the PostgreSQL run is the one that counts.
"""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from survey.models import Participant, Rating, TrialResponse


def _submit(bot, payload, *, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload)
    return bot.client.post(
        f"/s/{bot.study.slug}/run/submit/", body, content_type="application/json"
    )


def _error(resp) -> str:
    return resp.json()["error"]


def test_json_nested_100000_deep_is_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    resp = _submit(bot, None, raw=b"[" * 100_000 + b"]" * 100_000)
    assert resp.status_code == 400
    assert "nested too deeply" in _error(resp)
    resp = _submit(bot, None, raw=b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert resp.status_code == 400


def test_nan_and_infinity_anywhere_in_the_submit_are_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    for constant in ("NaN", "Infinity", "-Infinity", "1e999"):
        _submit_constant(bot, cfg, constant)
    assert TrialResponse.objects.count() == 0


def _submit_constant(bot, cfg, constant):
    body = json.dumps(
        {
            "index": cfg["index"],
            "submission_id": str(uuid.uuid4()),
            "ratings": [
                {"label": t["label"], "value": 50, "moved": True, "listening_s": t["required_s"]}
                for t in cfg["tracks"]
            ],
            "events": [{"type": "play", "t": "CONSTANT"}],
        }
    ).replace('"CONSTANT"', constant)
    resp = _submit(bot, None, raw=body.encode())
    assert resp.status_code == 400, (constant, resp.content)


def test_a_non_ascii_media_token_is_a_400(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    resp = bot.client.get(f"/s/{bot.study.slug}/m/{'é' * 40}")
    assert resp.status_code == 400
    assert b"malformed media link" in resp.content


def test_a_range_of_5000_digits_is_a_400(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    url = cfg["tracks"][0]["audio_url"]
    resp = bot.client.get(url, HTTP_RANGE="bytes=" + "9" * 5000 + "-")
    assert resp.status_code == 400
    assert b"18 digits" in resp.content
    assert bot.client.get(url, HTTP_RANGE="bytes=0-1").status_code == 206


def test_reusing_ones_submission_id_for_the_next_trial_is_a_400_and_loses_nothing(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    sid = str(uuid.uuid4())
    assert bot.submit(bot.config(), sid=sid).status_code == 200
    resp = bot.submit(bot.config(), sid=sid)
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "reused_submission_id"
    assert bot.participant.progress == 1
    assert bot.submit(bot.config()).status_code == 200  # a fresh id goes on
    assert bot.participant.progress == 2


def test_a_nul_byte_in_a_recruiter_id_is_a_400(live_study, client):
    url = f"/s/{live_study.slug}/"
    for param in ("PROLIFIC_PID", "SESSION_ID", "STUDY_ID"):
        resp = client.get(url, {param: "abc\x00def"})
        assert resp.status_code == 400
        assert b"control characters" in resp.content
        resp = client.post(url, {param: "abc\x00def", "consent": "yes"})
        assert resp.status_code == 400
        resp = client.post(url, {param: "abc\x00def", "consent": "no"})
        assert resp.status_code == 400
    assert Participant.objects.count() == 0


def test_a_nul_byte_in_an_event_or_the_questionnaire_is_a_400(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    resp = bot.submit(bot.config(), events=[{"type": "error", "t": 1, "message": "a\x00b"}])
    assert resp.status_code == 400
    assert "control characters" in _error(resp)
    resp = bot.submit(bot.config(), events=[{"type": "pl\x00ay", "t": 1}])
    assert resp.status_code == 400
    assert TrialResponse.objects.count() == 0
    while 'id="trial-config"' in bot.page().content.decode():
        assert bot.submit(bot.config()).status_code == 200
    resp = bot.client.post(
        f"/s/{bot.study.slug}/run/questionnaire/", {"age_range": "25-34", "comment": "x\x00"}
    )
    assert resp.status_code == 400
    assert bot.participant.status == Participant.Status.ACTIVE


# -- the declared event schema and bounded numbers (finding 2) ------------------------------------


def test_undeclared_event_kinds_and_fields_are_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    for events, fragment in [
        ([{"type": "keylog", "t": 1}], "unknown kind"),
        ([{"type": "play", "t": 1, "blob": "x" * 1000}], "undeclared field"),
        ([{"type": "play"}], "needs 't'"),
        ([{"type": "play", "t": -1}], "between"),
        ([{"type": "play", "t": 1, "video_time": 1e308}], "between"),
        ([{"type": "play", "t": 1, "track": 99}], "between"),
        ([{"type": "play", "t": 1}] * 2001, "at most 2000 events"),
        ("not a list", "must be a list"),
    ]:
        resp = bot.submit(bot.config(), events=events)
        assert resp.status_code == 400, (events[:1], resp.content)
        assert fragment in _error(resp), (fragment, _error(resp))
    assert TrialResponse.objects.count() == 0


def test_stored_numbers_are_bounded(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    ratings = [
        {"label": t["label"], "value": 50, "moved": True, "listening_s": 1e308}
        for t in cfg["tracks"]
    ]
    resp = bot.submit(cfg, ratings=ratings)
    assert resp.status_code == 400
    assert "listening time" in _error(resp)
    assert bot.submit(cfg, ratings=ratings[:1] * 30).status_code == 400
    resp = bot.submit(cfg, index=10**30)
    assert resp.status_code == 400
    assert Rating.objects.count() == 0


def test_an_oversized_submit_is_refused_before_it_is_read(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()
    resp = bot.submit(cfg, events=[{"type": "error", "t": 1, "message": "x" * 200}] * 2000)
    assert resp.status_code == 400
    assert resp.json()["code"] == "too_large"


def test_a_real_submit_stores_only_declared_event_fields(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    events = [
        {"type": "play", "t": 1_700_000_000_000, "video_time": 0.0, "track": None},
        {"type": "switch", "t": 1_700_000_000_500, "video_time": 0.5, "track": 1},
        {"type": "error", "t": 1_700_000_000_900, "message": "NotAllowedError"},
    ]
    assert bot.submit(bot.config(), events=events).status_code == 200
    assert TrialResponse.objects.get().events == events


def test_unknown_submit_fields_are_refused(bot_factory):
    bot = bot_factory()
    bot.to_trials()
    resp = bot.submit(bot.config(), padding="x" * 10_000)
    assert resp.status_code == 400
    assert "undeclared field 'padding'" in _error(resp)


# -- a property-based fuzz of every participant endpoint ----------------------------------------

NASTY_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=None) | st.sampled_from("\x00\x7f\n'\"<>é€"),
    max_size=80,
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | NASTY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(NASTY_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
EVENT = st.fixed_dictionaries(
    {"type": st.sampled_from(["play", "switch", "x"]) | NASTY_TEXT, "t": JSON},
    optional={"video_time": JSON, "track": JSON, "message": NASTY_TEXT},
)
SUBMIT = st.fixed_dictionaries(
    {
        "index": st.integers(-2, 4) | JSON,
        "submission_id": st.uuids().map(str) | NASTY_TEXT,
        "events": st.lists(EVENT, max_size=3) | JSON,
    },
    optional={
        "ratings": st.lists(
            st.fixed_dictionaries(
                {
                    "label": st.sampled_from(["A", "B", "C"]) | NASTY_TEXT,
                    "value": JSON,
                    "moved": JSON,
                    "listening_s": JSON,
                }
            ),
            max_size=3,
        )
        | JSON,
        "text": NASTY_TEXT,
        "tags": JSON,
        "listening_s": JSON,
    },
)
RAW_BODY = st.binary(max_size=200) | st.sampled_from(
    [b"[" * 5000, b'{"index": NaN}', b'{"index": 1e999}', b"\xff\xfe", b'"\\ud800"']
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _bot_at_trials(bot_factory, holder: dict):
    if "bot" not in holder or not Participant.objects.filter(pk=holder["pid"]).exists():
        bot = bot_factory()
        bot.to_trials()
        holder.update(bot=bot, pid=bot.participant.pk)
    return holder["bot"]


def _ok(resp):
    assert resp.status_code < 500, (resp.status_code, resp.content[:300])


@FUZZ
@given(payload=SUBMIT | JSON, raw=RAW_BODY, use_raw=st.booleans())
@example(payload=None, raw=b"[" * 5000, use_raw=True)
@example(payload=None, raw=b'{"index": 0, "events": [{"type": "play", "t": NaN}]}', use_raw=True)
@example(payload={"index": 0, "events": [{"type": "play\x00", "t": 1}]}, raw=b"", use_raw=False)
def test_fuzz_submit(bot_factory, payload, raw, use_raw):
    bot = _bot_at_trials(bot_factory, test_fuzz_submit.__dict__.setdefault("holder", {}))
    _ok(_submit(bot, payload, raw=raw if use_raw else None))
    assert all(0 <= v <= 100 for v in Rating.objects.values_list("value", flat=True))


@FUZZ
@given(
    pid=NASTY_TEXT,
    session=NASTY_TEXT,
    study_id=NASTY_TEXT,
    consent=NASTY_TEXT | st.sampled_from(["yes", "no"]),
    ua=st.text(max_size=30),
)
@example(pid="a\x00b", session="", study_id="", consent="yes", ua="")
@example(pid="", session="s\x00", study_id="", consent="no", ua="")
def test_fuzz_entry(live_study, pid, session, study_id, consent, ua):
    from django.test import Client

    client = Client(HTTP_USER_AGENT=ua.replace("\n", " ").replace("\r", " "))
    query = {"PROLIFIC_PID": pid, "SESSION_ID": session, "STUDY_ID": study_id}
    url = f"/s/{live_study.slug}/"
    _ok(client.get(url, query))
    _ok(client.post(url, {**query, "consent": consent}))
    _ok(client.options(url))


@FUZZ
@given(
    stage=NASTY_TEXT,
    hp=st.dictionaries(st.sampled_from([f"hp{i}" for i in range(6)]), NASTY_TEXT, max_size=6),
    answers=st.dictionaries(
        st.sampled_from(["age_range", "device", "music_training", "comment", "x"]),
        NASTY_TEXT,
        max_size=5,
    ),
    token=NASTY_TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")),
    range_=st.from_regex(r"bytes=[0-9]{0,30}-[0-9]{0,30}", fullmatch=True) | NASTY_TEXT,
    index=st.integers(-5, 10),
)
@example(
    stage="",
    hp={},
    answers={"comment": "\x00"},
    token="é" * 40,
    range_="bytes=" + "9" * 5000 + "-",
    index=0,
)
def test_fuzz_the_other_participant_endpoints(
    bot_factory, stage, hp, answers, token, range_, index
):
    bot = _bot_at_trials(
        bot_factory, test_fuzz_the_other_participant_endpoints.__dict__.setdefault("holder", {})
    )
    base = f"/s/{bot.study.slug}/run/"
    _ok(bot.client.post(base + "advance/", {"stage": stage}))
    _ok(bot.client.post(base + "headphones/", hp))
    _ok(bot.client.get(base + f"headphones/{max(index, 0)}.wav"))
    _ok(bot.client.post(base + "questionnaire/", answers))
    _ok(bot.client.get(f"/s/{bot.study.slug}/m/{token}", HTTP_RANGE=range_.replace("\n", "")))
    cfg_url = bot.config()["tracks"][0]["audio_url"]
    _ok(bot.client.get(cfg_url, HTTP_RANGE=range_.replace("\n", "")))
    _ok(bot.page())
