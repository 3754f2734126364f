"""Bad input, systematically: property-based fuzzing of the rating submit and the CSV importers,
schemathesis against the researcher API's OpenAPI schema, malformed and oversized requests."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generation.audioset import parse_segments
from survey.models import Rating

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
NUMBERISH = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)
RATING = st.fixed_dictionaries(
    {
        "label": st.sampled_from(["A", "B", "C", "", "a"]) | st.text(max_size=3),
        "value": NUMBERISH,
        "moved": st.booleans() | st.none() | st.integers(0, 1),
        "listening_s": NUMBERISH,
    }
)
NEAR_VALID = st.fixed_dictionaries(
    {
        "index": st.integers(-3, 5) | st.text(max_size=3) | st.none(),
        "submission_id": st.uuids().map(str) | st.text(max_size=40),
        "ratings": st.lists(RATING, max_size=4) | JSON,
        "events": JSON,
    }
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(payload=NEAR_VALID | JSON)
def test_the_submit_never_fails_with_a_500_and_never_stores_nonsense(bot_factory, payload):
    bot = getattr(test_the_submit_never_fails_with_a_500_and_never_stores_nonsense, "_bot", None)
    if bot is None or bot.study.pk != bot_factory().study.pk:
        bot = bot_factory()
        bot.to_trials()
        test_the_submit_never_fails_with_a_500_and_never_stores_nonsense._bot = bot
    resp = bot.client.post(
        f"/s/{bot.study.slug}/run/submit/", json.dumps(payload), content_type="application/json"
    )
    assert resp.status_code in (200, 400, 403, 409), (resp.status_code, payload)
    assert all(0 <= v <= 100 for v in Rating.objects.values_list("value", flat=True))
    assert Rating.objects.count() <= 4


def test_a_body_that_is_not_json_or_too_big(bot_factory, settings):
    bot = bot_factory()
    bot.to_trials()
    url = f"/s/{bot.study.slug}/run/submit/"
    assert (
        bot.client.post(url, b"\xff\xfe{not json", content_type="application/json").status_code
        == 400
    )
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    resp = bot.client.post(
        url, json.dumps({"index": 0, "events": ["x" * 4000]}), content_type="application/json"
    )
    assert resp.status_code == 400
    assert not Rating.objects.exists()


def test_a_malformed_multipart_upload_is_refused_early(client, charlie):
    client.force_login(charlie)
    # never closed
    body = (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="upload"; filename="x.mp4"\r\n\r\nabc'
    )
    resp = client.generic(
        "POST",
        "/admin/generation/clip/add/",
        body,
        content_type="multipart/form-data; boundary=BOUNDARY",
    )
    assert resp.status_code in (200, 400)  # the form again or a clean refusal, never a 500
    from generation.models import Clip

    assert not Clip.objects.exists()


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=400)
    | st.lists(st.text(alphabet=',"# \n0123456789.abc/m-', max_size=30), max_size=8).map("\n".join)
)
def test_the_segment_parser_reports_and_never_raises(text):
    segments, errors = parse_segments(text)
    for seg in segments:
        assert seg.end_s > seg.start_s >= 0 and seg.youtube_id
    assert all(e.line >= 1 for e in errors)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet='abc ,"\n\r1', max_size=300))
def test_the_musiscene_csv_parser_raises_only_its_own_error(text):
    from modeling.datasets import MusiSceneCSVError, parse_musiscene_csv

    lines = [
        "Music Caption 1,Music Caption 2,Video Caption,Mixtral Audio,Mixtral Video",
        *text.splitlines(),
    ]
    try:
        rows = parse_musiscene_csv(lines, [f"id{i:08d}xyz" for i in range(len(lines) - 1)])
    except MusiSceneCSVError as exc:
        assert str(exc)
    else:
        assert isinstance(rows, list)


def test_schemathesis_finds_no_server_error_in_the_researcher_api(small_study, alice):
    import schemathesis
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.authtoken.models import Token

    from studyserver.wsgi import application

    spec = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(spec, default=str)))
    schema.app = application
    token = Token.objects.create(user=alice).key
    failures = []
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:
        strategy = operation.as_strategy()

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            for slug in ("small", None):
                if slug and "slug" in (case.path_parameters or {}):
                    case.path_parameters["slug"] = slug
                resp = case.call(headers={"Authorization": f"Token {token}"})
                if resp.status_code >= 500:
                    failures.append((case.method, case.formatted_path, resp.status_code))

        run()
    assert failures == []
