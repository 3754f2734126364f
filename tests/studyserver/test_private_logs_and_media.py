"""Staff media by name only for the researcher's own studies; logs without recruiter ids, media
tokens or participant cookies (Django's log records and gunicorn's access log)."""

from __future__ import annotations

import logging

from django.urls import reverse

from studyserver.logscrub import ScrubFilter, scrub


def test_a_researcher_fetches_by_name_only_files_of_their_studies(
    client, small_study, alice, bob, charlie
):
    track = small_study.forms.get().trials.first().tracks.first()
    url = reverse("staff-media", args=[track.audio.name])
    bob.groups.clear()
    client.force_login(bob)  # staff, not on the study
    assert client.get(url).status_code == 404
    client.force_login(alice)  # on the study
    assert client.get(url).status_code == 200
    client.force_login(charlie)  # superuser
    assert client.get(url).status_code == 200


LINE = (
    'GET /s/pilot/?PROLIFIC_PID=5f0c1e2d3b4a5968778695a4&STUDY_ID=abc&SESSION_ID=xyz HTTP/1.1" '
    "/s/pilot/m/0123456789abcdef0123456789abcdef01234567 msp_12=Zm9vYmFy:1t2u3v:sig"
)


def test_scrub_removes_ids_tokens_and_cookies():
    clean = scrub(LINE)
    for secret in ("5f0c1e2d3b4a5968778695a4", "abc&", "xyz", "0123456789abcdef", "Zm9vYmFy"):
        assert secret not in clean, (secret, clean)
    assert "/s/pilot/?PROLIFIC_PID=[scrubbed]" in clean and "/s/pilot/m/[scrubbed]" in clean


def test_django_log_records_are_scrubbed(caplog):
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (LINE,), None
    )
    ScrubFilter().filter(record)
    assert "5f0c1e2d3b4a5968778695a4" not in record.getMessage()
    assert "[scrubbed]" in record.getMessage()


def test_the_gunicorn_access_log_is_scrubbed():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from studyserver.logscrub import ScrubbingGunicornLogger

    logger = ScrubbingGunicornLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/s/pilot/?PROLIFIC_PID=5f0c1e2d3b4a5968778695a4",
        "PATH_INFO": "/s/pilot/m/0123456789abcdef0123456789abcdef01234567",
        "QUERY_STRING": "PROLIFIC_PID=5f0c1e2d3b4a5968778695a4",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "https://x/s/pilot/?SESSION_ID=abcdef",
    }
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    resp = SimpleNamespace(status="200 OK", response_length=10, sent=10, headers=[])
    from datetime import timedelta

    atoms = logger.atoms(resp, req, environ, timedelta(seconds=0.01))
    text = " ".join(str(v) for v in atoms.values())
    assert "5f0c1e2d3b4a5968778695a4" not in text and "abcdef" not in text
    assert "0123456789abcdef" not in text and "[scrubbed]" in text


def test_the_site_logs_through_the_scrubber():
    # the filter and the gunicorn logger above are only useful where they are installed
    import runpy
    from pathlib import Path

    from studyserver import settings as site

    # the root logger's handlers as the site configures them (the test settings add their own)
    for name in site.LOGGING["root"]["handlers"]:
        assert "scrub" in site.LOGGING["handlers"][name].get("filters", []), name
    assert site.LOGGING["filters"]["scrub"]["()"] == "studyserver.logscrub.ScrubFilter"
    conf = runpy.run_path(str(Path(site.__file__).with_name("gunicorn.conf.py")))
    assert conf["logger_class"] == "studyserver.logscrub.ScrubbingGunicornLogger"


def test_the_retention_purge_is_scheduled_daily():
    from studyserver.celery import app

    entries = [e for e in app.conf.beat_schedule.values() if "purge" in e["task"]]
    assert [e["task"] for e in entries] == ["survey.purge_identifying_data"]
    assert entries[0]["schedule"] <= 24 * 3600
    app.loader.import_default_modules()
    assert "survey.purge_identifying_data" in app.tasks
