"""The error pages a participant may meet (404, 429, 500, 503) are pages of the study in the
participant's language: the participant's own, else the study's choice among its languages
(the browser's Accept-Language, the study's default), else the browser's among the site's
languages. Django's own 404 and 500 pages and the JSON 429 were English whatever the study."""

from __future__ import annotations

import pytest
from django.test import Client

from survey.models import Study


def _lang_dir(resp) -> tuple[str, str]:
    text = resp.content.decode()
    start = text.index("<html")
    tag = text[start : text.index(">", start)]
    lang = tag.split('lang="')[1].split('"')[0]
    direction = tag.split('dir="')[1].split('"')[0]
    return lang, direction


@pytest.fixture
def study(small_study):
    from survey import services
    from survey.models import StudyText

    for code in ("fr", "ar"):
        texts = dict.fromkeys(
            ("consent_text", "instructions_text", "question", "scale_min_label", "scale_max_label"),
            code,
        )
        StudyText.objects.create(study=small_study, language=code, title=f"Small {code}", **texts)
    Study.objects.filter(pk=small_study.pk).update(languages=["en", "fr", "ar"])
    small_study.refresh_from_db()
    services.study_go_live(study=small_study)
    return small_study


@pytest.mark.parametrize(
    ("accept", "lang", "direction", "heading"),
    [
        ("de-AT,de;q=0.9", "de", "ltr", "Seite nicht gefunden"),
        ("zh-CN,zh;q=0.9", "zh-hans", "ltr", "找不到页面"),
        ("ar-EG,ar", "ar", "rtl", "الصفحة غير موجودة"),
        ("ja-JP", "en", "ltr", "Page not found"),
    ],
)
def test_an_unknown_study_answers_404_in_the_browsers_language(
    db, accept, lang, direction, heading
):
    resp = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/s/no-such-study/")
    assert resp.status_code == 404
    assert _lang_dir(resp) == (lang, direction)
    assert resp["Content-Language"] == lang
    assert f"<h1>{heading}</h1>" in resp.content.decode()
    assert 'rel="stylesheet"' in resp.content.decode()  # the participant pages' own look


def test_a_404_on_a_study_page_is_in_the_studys_languages_only(db, study):
    # German is a site language but not one of this study's: the study's default (English)
    resp = Client(HTTP_ACCEPT_LANGUAGE="de").get(f"/s/{study.slug}/no/such/page/")
    assert resp.status_code == 404 and _lang_dir(resp) == ("en", "ltr")
    assert study.title in resp.content.decode()
    resp = Client(HTTP_ACCEPT_LANGUAGE="fr-CA,de;q=0.5").get(f"/s/{study.slug}/run/nothing/")
    assert resp.status_code == 404 and _lang_dir(resp) == ("fr", "ltr")
    assert "Page introuvable" in resp.content.decode()


def test_a_participants_404_is_in_their_own_language(db, study):
    browser = Client(HTTP_ACCEPT_LANGUAGE="ar")
    browser.post(f"/s/{study.slug}/", {"consent": "yes"})
    # the same browser now asks for English: the participant took the study in Arabic
    resp = browser.get(f"/s/{study.slug}/run/nothing/", HTTP_ACCEPT_LANGUAGE="en")
    assert resp.status_code == 404 and _lang_dir(resp) == ("ar", "rtl")
    assert "الصفحة غير موجودة" in resp.content.decode()


def test_staff_paths_keep_the_sites_language(db):
    resp = Client(HTTP_ACCEPT_LANGUAGE="de").get("/no-such-page/")
    assert resp.status_code == 404 and _lang_dir(resp) == ("de", "ltr")
    resp = Client(HTTP_ACCEPT_LANGUAGE="de").get("/api/no-such-endpoint/")
    assert resp.status_code == 404 and resp["Content-Language"] == "en"


def test_a_rate_limited_page_is_a_page_in_the_participants_language(db, study, settings):
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_ENTRY_PER_MIN = 2
    browser = Client(HTTP_ACCEPT_LANGUAGE="fr")
    codes = [browser.get(f"/s/{study.slug}/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    resp = browser.get(f"/s/{study.slug}/")
    assert resp.status_code == 429 and int(resp["Retry-After"]) > 0
    assert resp["Content-Type"].startswith("text/html")
    assert _lang_dir(resp) == ("fr", "ltr")
    assert "<h1>Veuillez patienter un instant</h1>" in resp.content.decode()


def test_a_rate_limited_script_still_gets_json(db, study, settings):
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_PARTICIPANT_PER_MIN = 1
    browser = Client(HTTP_ACCEPT_LANGUAGE="fr")
    url = f"/s/{study.slug}/run/submit/"
    codes = [browser.post(url, "{}", content_type="application/json") for _ in range(2)]
    assert codes[1].status_code == 429 and codes[1].json()["code"] == "rate_limited"


@pytest.mark.allows_5xx(500)
def test_a_server_error_is_a_page_in_the_browsers_language(db, study, monkeypatch):
    from survey import participation

    browser = Client(HTTP_ACCEPT_LANGUAGE="es-MX,es", raise_request_exception=False)
    browser.post(f"/s/{study.slug}/", {"consent": "yes"})

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(participation, "participant_touch", broken)
    resp = browser.get(f"/s/{study.slug}/run/")
    assert resp.status_code == 500
    assert _lang_dir(resp) == ("es", "ltr")
    assert "<h1>Algo ha salido mal</h1>" in resp.content.decode()
    assert "a bug" not in resp.content.decode()


@pytest.mark.allows_5xx(503)
def test_a_lost_database_is_a_page_in_the_browsers_language(db, study, monkeypatch):
    from django.db import OperationalError

    from survey import participation

    browser = Client(HTTP_ACCEPT_LANGUAGE="ar")
    browser.post(f"/s/{study.slug}/", {"consent": "yes"})

    def down(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(participation, "participant_touch", down)
    resp = browser.get(f"/s/{study.slug}/run/")
    assert resp.status_code == 503 and resp["Retry-After"] == "5"
    assert _lang_dir(resp) == ("ar", "rtl")
    assert "<h1>لحظة من فضلك</h1>" in resp.content.decode()
