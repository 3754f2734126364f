"""Media on S3-compatible storage: the participant is redirected to a signed URL whose answer
names no stored file (defect 4 of issue 17, for STORAGE_BACKEND=s3). botocore signs offline
with made-up credentials: no network, no bucket."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import RequestFactory

pytest.importorskip("storages.backends.s3", reason="django-storages[s3] is not installed")

NAME = "tracks/7f3c2a9e-4b1d-4d7e-9a51-0c2f6e8b1d44.m4a"


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


def test_the_signed_url_names_no_file_in_its_answer(s3_storage):
    from generation.ranged import ranged_file_response

    resp = ranged_file_response(RequestFactory().get("/m/x/"), s3_storage, NAME)
    assert resp.status_code == 302 and resp["Cache-Control"] == "no-store"
    url = urlsplit(resp["Location"])
    query = {k.lower(): v for k, v in parse_qs(url.query).items()}
    signed = "signature" in query or "x-amz-signature" in query
    assert url.netloc == "objects.example:9000" and signed, resp["Location"]
    # S3 answers with this Content-Disposition, never one stored with the object (which could
    # name the file): no filename at all
    assert query["response-content-disposition"] == ["inline"], query
    stem = NAME.rsplit("/", 1)[1].split(".")[0]
    for key, values in query.items():
        assert not any(stem in v or "filename" in v.lower() for v in values), (key, values)
