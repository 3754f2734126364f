"""Media on S3-compatible storage (defect 4 of issue 17, for STORAGE_BACKEND=s3): the participant
gets the bytes under their own opaque URL, never a redirect to the store (a signed URL's path is
the stored object's key, the same for every participant, and the store's answer carries the
object's ETag and Last-Modified). The object store is botocore's Stubber: it checks what is
asked of S3 and answers as S3 does, offline (made-up credentials, no network, no bucket)."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import RequestFactory

pytest.importorskip("storages.backends.s3", reason="django-storages[s3] is not installed")

NAME = "tracks/7f3c2a9e-4b1d-4d7e-9a51-0c2f6e8b1d44.m4a"
STEM = "7f3c2a9e-4b1d-4d7e-9a51-0c2f6e8b1d44"
DATA = bytes(range(256)) * 40  # 10,240 bytes
ETAG = '"9b2cf535f27731c974343645a3985328"'


@pytest.fixture
def s3_storage():
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name="media",
        endpoint_url="http://objects.example:9000",
        region_name="us-east-1",
        access_key="AKIAFAKEFAKEFAKE",
        secret_key="fake-secret",
        querystring_expire=300,
        file_overwrite=False,
    )


def _s3_answer(body: bytes, **extra):
    """get_object's answer as S3 gives it: the object's ETag, Last-Modified, stored metadata."""
    from datetime import UTC, datetime

    from botocore.response import StreamingBody

    return {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentLength": len(body),
        "ContentType": "audio/mp4",
        "ETag": ETAG,
        "LastModified": datetime(2026, 11, 30, tzinfo=UTC),
        "ContentDisposition": f'attachment; filename="{STEM}.m4a"',
        "Metadata": {"original-name": f"{STEM}.m4a"},
        "AcceptRanges": "bytes",
        **extra,
    }


def _names_nothing(resp):
    for key, value in resp.items():
        assert STEM not in value and "filename" not in value.lower(), (key, value)
        assert value != ETAG.strip('"') and ETAG not in value, (key, value)
    assert "Location" not in resp and "ETag" not in resp and "Last-Modified" not in resp


def test_a_range_is_answered_here_with_no_trace_of_the_stored_object(s3_storage, settings):
    from botocore.stub import Stubber

    from generation.ranged import ranged_file_response

    settings.MEDIA_ACCEL_REDIRECT_PREFIX = ""
    with Stubber(s3_storage.connection.meta.client) as s3:
        s3.add_response(
            "get_object",
            _s3_answer(DATA[100:200], ContentRange=f"bytes 100-199/{len(DATA)}"),
            expected_params={"Bucket": "media", "Key": NAME, "Range": "bytes=100-199"},
        )
        s3.add_response("get_object", _s3_answer(DATA), {"Bucket": "media", "Key": NAME})
        rf = RequestFactory()
        part = ranged_file_response(
            rf.get("/s/x/m/t/", HTTP_RANGE="bytes=100-199"), s3_storage, NAME
        )
        whole = ranged_file_response(rf.get("/s/x/m/t/"), s3_storage, NAME)
        s3.assert_no_pending_responses()
    assert part.status_code == 206, part
    assert part["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    assert part["Content-Length"] == "100" and part["Accept-Ranges"] == "bytes"
    assert b"".join(part.streaming_content) == DATA[100:200]
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == DATA
    for resp in (part, whole):
        assert resp["Content-Type"] == "audio/mp4"
        _names_nothing(resp)


def test_a_missing_object_is_a_404_and_a_bad_range_a_416(s3_storage, settings):
    from botocore.stub import Stubber
    from django.http import Http404

    from generation.ranged import ranged_file_response

    settings.MEDIA_ACCEL_REDIRECT_PREFIX = ""
    rf = RequestFactory()
    with Stubber(s3_storage.connection.meta.client) as s3:
        s3.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        s3.add_client_error("get_object", "InvalidRange", http_status_code=416)
        with pytest.raises(Http404):
            ranged_file_response(rf.get("/s/x/m/t/"), s3_storage, NAME)
        bad = ranged_file_response(rf.get("/s/x/m/t/", HTTP_RANGE="bytes=99999-"), s3_storage, NAME)
    assert bad.status_code == 416
    _names_nothing(bad)


def test_behind_nginx_the_signed_url_stays_inside(s3_storage, settings):
    """nginx is handed the signed path (X-Accel-Redirect, which nginx never passes on) and
    fetches it from the store; the answer Django gives names nothing."""
    from generation.ranged import ranged_file_response

    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-s3/"
    resp = ranged_file_response(RequestFactory().get("/s/x/m/t/"), s3_storage, NAME)
    assert resp.status_code == 200 and resp.content == b""
    target = urlsplit(resp["X-Accel-Redirect"])
    assert target.path == f"/protected-s3/media/{NAME}", target
    query = {k.lower(): v for k, v in parse_qs(target.query).items()}
    assert "x-amz-signature" in query or "signature" in query, query
    # what S3 answers nginx carries no file name either, whatever the object's metadata
    assert query["response-content-disposition"] == ["inline"], query
    rest = {k: v for k, v in resp.items() if k != "X-Accel-Redirect"}
    assert all(STEM not in v for v in rest.values()) and "Location" not in resp, rest
