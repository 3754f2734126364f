"""A study in several languages: the participant gets one of the study's languages (their
browser's, or the one they pick), the researcher's texts in it, and every rating records it."""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ValidationError

from survey import services
from survey.language import from_accept_language
from survey.models import Participant, Rating, Study, StudyText

ARABIC = {
    "title": "دراسة الاستماع",
    "consent_text": "أوافق على المشاركة في دراسة الاستماع هذه.",
    "instructions_text": "شاهد كل فيديو مع كل مقطع موسيقي ثم قيّمه.",
    "question": "ما مدى ملاءمة هذه الموسيقى للفيديو؟",
    "scale_min_label": "لا تناسبه إطلاقًا",
    "scale_max_label": "تناسبه تمامًا",
}


@pytest.fixture
def arabic_study(small_study):
    """The small study offered in English and Arabic, with its texts in both, live."""
    small_study.min_listen_s = 1.0
    small_study.languages = ["en", "ar"]
    small_study.save()
    StudyText.objects.create(study=small_study, language="ar", **ARABIC)
    services.study_go_live(study=small_study)
    small_study.refresh_from_db()
    return small_study


def _bot(study, accept_language: str = "", **query):
    from tests.harness.bots import Bot

    bot = Bot(study, **query)
    if accept_language:
        bot.client.defaults["HTTP_ACCEPT_LANGUAGE"] = accept_language
    return bot


def _html_lang(html: str) -> tuple[str, str]:
    m = re.search(r'<html lang="([^"]+)" dir="(ltr|rtl)">', html)
    assert m, html[:300]
    return m.group(1), m.group(2)


@pytest.mark.parametrize(
    ("header", "offered", "expected"),
    [
        ("ar-EG,ar;q=0.9,en;q=0.5", ["en", "ar"], "ar"),
        ("de-AT,de;q=0.9", ["en", "de"], "de"),
        ("zh-CN,zh;q=0.9", ["en", "zh-hans"], "zh-hans"),
        ("zh", ["en", "zh-hans"], "zh-hans"),
        ("zh-TW", ["en", "zh-hans"], None),  # another script: not Simplified Chinese
        ("fr;q=0.8,es;q=0.9", ["en", "fr", "es"], "es"),  # by weight, not by order
        ("fr", ["en", "de"], None),  # a site language the study does not offer
        ("pt-BR", ["en", "de"], None),
        ("", ["en", "de"], None),
    ],
)
def test_it_matches_the_browser_language_among_the_offered_ones(header, offered, expected):
    assert from_accept_language(header, offered) == expected


def test_it_shows_the_study_in_the_browser_language_it_offers(arabic_study):
    resp = _bot(arabic_study, "ar,en;q=0.5").client.get(f"/s/{arabic_study.slug}/")
    html = resp.content.decode()
    assert _html_lang(html) == ("ar", "rtl")
    assert resp["Content-Language"] == "ar"
    assert ARABIC["title"] in html and ARABIC["consent_text"] in html
    assert "أوافق، ابدأ" in html and "I agree, start" not in html  # the interface too
    # the switcher names every offered language in its own language, and only those
    assert 'hreflang="en"' in html and 'hreflang="ar"' in html and 'hreflang="de"' not in html


def test_it_never_shows_a_language_the_study_does_not_offer(arabic_study):
    for header in ("de-DE,de;q=0.9", "fr", "zh-CN"):
        html = _bot(arabic_study, header).client.get(f"/s/{arabic_study.slug}/").content.decode()
        assert _html_lang(html) == ("en", "ltr"), header
        assert arabic_study.consent_text in html
    html = _bot(arabic_study).client.get(f"/s/{arabic_study.slug}/?lang=de").content.decode()
    assert _html_lang(html) == ("en", "ltr")


def test_a_study_in_one_language_ignores_the_browser(live_study):
    html = _bot(live_study, "ar").client.get(f"/s/{live_study.slug}/").content.decode()
    assert _html_lang(html) == ("en", "ltr")
    assert 'class="languages"' not in html  # no switcher with one language


def test_the_switcher_choice_is_kept_for_the_participant(arabic_study):
    bot = _bot(arabic_study, "en-US,en", PROLIFIC_PID="PID-AR", lang="ar")
    html = bot.client.get(f"/s/{arabic_study.slug}/", bot.query).content.decode()
    assert _html_lang(html) == ("ar", "rtl")
    # the switcher's links keep the recruiter's ids
    assert "PROLIFIC_PID=PID-AR" in html and "lang=en" in html
    # the choice outlives the query string (a cookie of this study's pages)
    html = bot.client.get(f"/s/{arabic_study.slug}/").content.decode()
    assert _html_lang(html) == ("ar", "rtl")
    bot.client.post(f"/s/{arabic_study.slug}/", {"PROLIFIC_PID": "PID-AR", "consent": "yes"})
    assert bot.participant.language == "ar"
    # from now on the participant's language, whatever the browser says
    bot.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = bot.page().content.decode()
    assert _html_lang(html) == ("ar", "rtl") and "التعليمات" in html
    assert ARABIC["instructions_text"] in html


def test_every_rating_records_the_language_it_was_given_in(arabic_study):
    bot = _bot(arabic_study, "ar")
    bot.to_trials()
    html = bot.page().content.decode()
    assert _html_lang(html) == ("ar", "rtl")
    assert ARABIC["question"] in html and ARABIC["scale_max_label"] in html
    assert "المقطع الموسيقي A" in html
    texts = json.loads(
        re.search(r'<script id="trial-texts" type="application/json">(.*?)</script>', html, re.S)[1]
    )
    assert texts["notRated"] == "لم يُقيَّم بعد"
    assert len(texts["secondsLeft"]) == 3  # up to the longest must-hear (1 s here) + 1
    cfg = bot.config()
    assert bot.submit(cfg).status_code == 200
    english = _bot(arabic_study, "en")
    english.to_trials()
    assert english.submit(english.config()).status_code == 200
    langs = {
        (r.participant_id, r.language)
        for r in Rating.objects.filter(participant__study=arabic_study)
    }
    assert langs == {(bot.participant.pk, "ar"), (english.participant.pk, "en")}
    # the export's ratings table carries it, in the analysis core's column contract
    from analysis.exports import ratings_frame
    from analysis.simulate import RATING_COLUMNS

    table = ratings_frame(study=arabic_study)
    assert list(table.columns) == list(RATING_COLUMNS) and "language" in RATING_COLUMNS
    by_person = table.groupby("participant")["language"].agg(set).to_dict()
    assert by_person == {bot.participant.public_id: {"ar"}, english.participant.public_id: {"en"}}


def test_the_countdown_takes_the_plural_form_of_its_count():
    from django.utils import translation

    from survey.texts import trial_texts

    with translation.override("ar"):  # six forms: 0, 1, 2, 3-10, 11-99, 100+
        forms = trial_texts(12.0)["secondsLeft"]
    assert len(forms) == 14
    assert "ثانيتين" in forms[2] and "ثوانٍ" in forms[3] and "ثوانٍ" in forms[10]
    assert "ثانية" in forms[11]
    with translation.override("de"):
        forms = trial_texts(2.0)["secondsLeft"]
    assert forms[1] == "noch %(n)s Sekunde anhören, um den Schieberegler freizuschalten"
    assert forms[2] == "noch %(n)s Sekunden anhören, um den Schieberegler freizuschalten"
    with translation.override("en"):
        assert trial_texts(1.0)["secondsLeft"][1] == "listen %(n)s second more to unlock the slider"


def test_go_live_is_refused_while_a_text_is_missing_in_an_offered_language(small_study):
    small_study.languages = ["en", "de", "ar"]
    small_study.save()
    StudyText.objects.create(study=small_study, language="ar", **{**ARABIC, "scale_max_label": ""})
    with pytest.raises(ValidationError) as exc:
        services.study_go_live(study=small_study)
    messages = exc.value.messages
    assert any(
        m.startswith("texts in German (de): missing consent text, instructions, question")
        for m in messages
    ), messages
    assert "texts in Arabic (ar): missing scale's high-end label" in messages
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.DRAFT
    # with every text written it goes live
    StudyText.objects.filter(language="ar").update(scale_max_label=ARABIC["scale_max_label"])
    StudyText.objects.create(
        study=small_study,
        language="de",
        consent_text="Ich stimme zu.",
        instructions_text="Bewerten Sie jede Tonspur.",
        question="Wie gut passt diese Musik zum Video?",
        scale_min_label="Überhaupt nicht",
        scale_max_label="Perfekt",
    )
    services.study_go_live(study=small_study)
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.LIVE


def test_go_live_needs_the_privacy_text_in_every_language_when_the_study_has_its_own(
    small_study,
):
    small_study.languages = ["en", "ar"]
    small_study.privacy_text = "We keep your ratings for five years."
    small_study.save()
    StudyText.objects.create(study=small_study, language="ar", **ARABIC)
    problems = [str(p) for p in services.study_validate(study=small_study, decode=False)]
    assert "texts in Arabic (ar): missing privacy text" in problems


def test_go_live_refuses_a_default_language_the_study_does_not_offer(small_study):
    small_study.languages = ["en"]
    small_study.default_language = "de"
    small_study.save()
    problems = [str(p) for p in services.study_validate(study=small_study, decode=False)]
    assert "languages: the default language 'de' is not offered" in problems


def test_an_existing_study_stays_in_english(live_study):
    assert live_study.languages == ["en"] and live_study.default_language == "en"
    bot = _bot(live_study, "ar,de")
    bot.to_trials()
    assert bot.submit(bot.config()).status_code == 200
    assert bot.participant.language == "en"
    assert set(Rating.objects.values_list("language", flat=True)) == {"en"}
    assert Participant.objects.get(pk=bot.participant.pk).language == "en"


def test_the_admin_offers_languages_and_takes_the_texts_per_language(client, charlie, small_study):
    client.force_login(charlie)
    url = f"/admin/survey/study/{small_study.pk}/change/"
    html = client.get(url).content.decode()
    assert 'name="languages" value="ar"' in html  # a checkbox per site language
    assert "texts-TOTAL_FORMS" not in html  # one language: no texts to write elsewhere
    small_study.languages = ["en", "ar"]
    small_study.save()
    html = client.get(url).content.decode()
    assert "texts-TOTAL_FORMS" in html and "Texts in the other languages" in html
    # go-live from the admin names what is missing, in which language
    resp = client.post(
        "/admin/survey/study/",
        {"action": "go_live", "_selected_action": [small_study.pk]},
        follow=True,
    )
    page = resp.content.decode()
    assert "texts in Arabic (ar): missing consent text, instructions, question" in page
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.DRAFT
