"""Health, readiness, metrics, request ids, security headers, rate limits, admin login
throttling."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache
from django.urls import reverse


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_healthz_and_readyz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    resp = client.get("/readyz")
    assert resp.status_code == 200
    checks = resp.json()["checks"]
    assert checks["database"] == "ok" and checks["storage"] == "ok"


@pytest.mark.allows_5xx(503)
def test_readyz_reports_a_broken_storage(client, db, monkeypatch, tmp_path):
    from django.core.files.storage import default_storage

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(default_storage, "path", lambda name="": str(blocker / "media"))
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["storage"] == "error: OSError"


@pytest.mark.allows_5xx(503)
def test_readyz_writes_nothing_and_names_no_host(client, db, monkeypatch, settings):
    from pathlib import Path

    from django.core.files.storage import default_storage
    from django.db import OperationalError

    from studyserver import ops

    media = Path(settings.MEDIA_ROOT)
    before = sorted(media.rglob("*")) if media.exists() else []
    written = []
    for name in ("save", "delete", "open"):  # a probe that writes and deletes leaves no file
        monkeypatch.setattr(default_storage, name, lambda *a, _n=name, **k: written.append(_n))
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert written == []
    assert (sorted(media.rglob("*")) if media.exists() else []) == before

    def down():
        raise OperationalError(
            'connection to server at "db.internal.example" (10.1.2.3), port 5432 failed'
        )

    monkeypatch.setattr(ops, "_check_database", down)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["database"] == "error: OperationalError"
    assert b"db.internal" not in resp.content and b"10.1.2.3" not in resp.content


def test_readyz_is_rate_limited(client, db, settings):
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_READYZ_PER_MIN = 2
    codes = [client.get("/readyz").status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]


@pytest.mark.allows_5xx(503)
def test_readyz_reports_an_unreachable_broker(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json()["checks"]["broker"].startswith("error")


def test_metrics_are_prometheus_text(client, small_study, settings):
    client.get("/healthz")
    resp = client.get("/metrics")
    body = resp.content.decode()
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/plain")
    assert "musiscene_ratings_stored 0.0" in body
    assert 'musiscene_http_requests_total{method="GET",status="200",view="healthz"}' in body
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_request_ids_are_returned_and_logged(client, db, caplog):
    resp = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert resp["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert forged["X-Request-ID"] != "bad id\nwith newline" and len(forged["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    from studyserver.ops import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("r-42")
    try:
        record = logging.LogRecord(
            "survey", logging.INFO, __file__, 1, "stored %d ratings", (3,), None
        )
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert (
        line["message"] == "stored 3 ratings"
        and line["request_id"] == "r-42"
        and line["level"] == "INFO"
    )


def test_participant_pages_have_a_content_security_policy(client, small_study):
    small_study.status = "closed"
    small_study.save()
    resp = client.get("/s/small/")
    csp = resp["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_participant_endpoints_are_rate_limited(client, small_study, settings):
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_ENTRY_PER_MIN = 3
    codes = [client.get("/s/small/").status_code for _ in range(5)]
    assert codes[:3] == [403, 403, 403] and codes[3:] == [429, 429]


def test_admin_login_is_throttled_after_failures(client, charlie, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    url = reverse("admin:login")
    for _ in range(3):
        resp = client.post(url, {"username": "charlie", "password": "wrong"})
        assert "Please enter the correct username" in resp.content.decode()
    resp = client.post(
        url, {"username": "charlie", "password": "password"}
    )  # the right password, too late
    assert "Too many failed logins" in resp.content.decode()
    assert "_auth_user_id" not in client.session


def test_media_can_be_handed_to_nginx(settings, small_study, charlie, client):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    client.force_login(charlie)
    track = small_study.forms.get().trials.first().tracks.first()
    resp = client.get(reverse("staff-media", args=[track.audio.name]))
    assert resp["X-Accel-Redirect"] == f"/protected-media/{track.audio.name}"
    assert resp.content == b""


@pytest.mark.allows_5xx(503)
def test_a_lost_database_answers_503_with_retry_after(bot_factory, monkeypatch):
    from django.db import OperationalError

    from survey import participation

    bot = bot_factory()
    bot.to_trials()
    cfg = bot.config()

    def down(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(participation, "submit_item", down)
    resp = bot.submit(cfg)
    assert resp.status_code == 503 and resp["Retry-After"] == "5"
    assert resp.json()["code"] == "unavailable"
    monkeypatch.undo()
    assert bot.submit(cfg).status_code == 200  # the page resends: stored once


def test_media_in_object_storage_come_from_here_not_from_the_store(bot_factory, monkeypatch):
    """STORAGE_BACKEND=s3: the participant's opaque URL answers the bytes itself (no redirect to
    a URL that names the stored object); another participant's request opens nothing."""
    import io

    pytest.importorskip("storages.backends.s3", reason="django-storages[s3] is not installed")
    from botocore.response import StreamingBody
    from botocore.stub import Stubber
    from storages.backends.s3 import S3Storage

    from survey import participation as P
    from survey import views

    storage = S3Storage(
        bucket_name="media",
        endpoint_url="http://objects.example:9000",
        region_name="us-east-1",
        access_key="AKIAFAKEFAKEFAKE",
        secret_key="fake-secret",
    )
    monkeypatch.setattr(views, "default_storage", storage)
    bot = bot_factory()
    bot.to_trials()
    track = bot.config()["tracks"][0]
    token = track["audio_url"].rstrip("/").rsplit("/", 1)[-1]
    name = P.media_for_token(participant=bot.participant, token=token).name
    with Stubber(storage.connection.meta.client) as s3:
        s3.add_response(
            "get_object",
            {
                "Body": StreamingBody(io.BytesIO(b"m4a bytes"), 9),
                "ContentLength": 9,
                "ETag": '"d41d8cd98f00b204e9800998ecf8427e"',
            },
            {"Bucket": "media", "Key": name},
        )
        resp = bot.client.get(track["audio_url"])
        body = b"".join(resp.streaming_content)
    assert resp.status_code == 200 and body == b"m4a bytes", resp
    assert "Location" not in resp and "ETag" not in resp
    assert all(name.rsplit("/", 1)[-1].split(".")[0] not in v for _, v in resp.items())
    stranger = bot_factory()
    stranger.to_trials()
    assert stranger.client.get(track["audio_url"]).status_code == 404


def test_the_favicon_is_the_sites_icon_not_a_404(client, db):
    from django.contrib.staticfiles import finders

    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith("survey/favicon.svg")
    assert finders.find("survey/favicon.svg")


def test_the_root_leads_to_the_admin_and_names_no_study(client, small_study, charlie):
    """`/` answered Django's 404 after `make demo`: it is the admin now, which asks an anonymous
    visitor to log in and shows a public site's visitors no study."""
    resp = client.get("/", follow=True)
    assert resp.redirect_chain[0] == (reverse("admin:index"), 302)
    assert resp.status_code == 200 and resp.request["PATH_INFO"] == reverse("admin:login")
    assert small_study.slug not in resp.content.decode()
    client.force_login(charlie)
    resp = client.get("/")
    assert resp.status_code == 302 and resp["Location"] == reverse("admin:index")
