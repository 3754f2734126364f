"""The site's language: every request starts in ``LANGUAGE_CODE``.

Django's ``LocaleMiddleware`` would pick a language from any browser's Accept-Language among all
of ``LANGUAGES``, for every page. Here the staff pages (admin, API) stay in the site's language,
and the participant pages choose among the languages their study offers
(``survey.language.activate_for_participant``), which this middleware then names in the answer's
``Content-Language``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


class SiteLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = settings.LANGUAGE_CODE
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        return response
