"""Which language a participant page is shown in: one of the languages the study offers.

Order of choice: the participant's own (fixed when they answer the consent page), the switcher
on the entry/consent page (``?lang=``, kept in a cookie for the study's pages), the browser's
``Accept-Language`` matched against the study's languages, the study's default language.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import get_language_info
from django.utils.translation.trans_real import parse_accept_lang_header

from survey.models import Participant, Study


def cookie_name(study: Study) -> str:
    return f"msl_{study.pk}"


def from_accept_language(header: str, offered: list[str]) -> str | None:
    """The first language of an Accept-Language header (by weight) that the study offers.
    Regional variants match their language (de-AT: de, zh-CN and zh-SG: zh-hans), never a
    different script (zh-TW is not zh-hans)."""
    for code, _q in parse_accept_lang_header(header or ""):
        if code == "*":
            continue
        if code == "zh":  # Chinese without a script or region: most readers read Simplified
            code = "zh-hans"
        try:
            variant = translation.get_supported_language_variant(code, strict=True)
        except LookupError:
            continue
        if variant in offered:
            return variant
    return None


def choose(request: HttpRequest, study: Study, participant: Participant | None = None) -> str:
    offered = study.offered_languages
    if participant is not None and participant.language in offered:
        return participant.language
    for asked in (request.GET.get("lang"), request.COOKIES.get(cookie_name(study))):
        if asked in offered:
            return asked
    if len(offered) == 1:
        return offered[0]
    return from_accept_language(request.headers.get("Accept-Language", ""), offered) or offered[0]


def activate(request: HttpRequest, study: Study, participant: Participant | None = None) -> str:
    """Choose and switch to the page's language (the request's until it ends)."""
    language = choose(request, study, participant)
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language


def keep_choice(response: HttpResponse, request: HttpRequest, study: Study) -> HttpResponse:
    """Remember a language picked with the switcher for this study's pages."""
    asked = request.GET.get("lang")
    if asked and asked in study.offered_languages:
        response.set_cookie(
            cookie_name(study),
            asked,
            max_age=settings.PARTICIPANT_COOKIE_MAX_AGE_S,
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            path=f"/s/{study.slug}/",
        )
    return response


def switcher(request: HttpRequest, study: Study) -> list[dict[str, object]]:
    """The links of the language switcher: each offered language by its own name, keeping the
    recruiter's query parameters. Empty when the study offers one language."""
    offered = study.offered_languages
    if len(offered) < 2:
        return []
    current = translation.get_language()
    links = []
    for code in offered:
        query = request.GET.copy()
        query["lang"] = code
        info = get_language_info(code)
        links.append(
            {
                "code": code,
                "name": info["name_local"],
                "url": f"?{query.urlencode()}",
                "current": code == current,
                "dir": "rtl" if info["bidi"] else "ltr",
            }
        )
    return links
