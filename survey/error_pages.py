"""The error pages a participant may meet (404, 429, 500, 503), in the participant's language.

The language: on a study's pages (``/s/<slug>/...``), the one that study's pages would use (the
participant's own, the switcher's cookie, the browser's ``Accept-Language`` among the study's
languages, the study's default); elsewhere, or when the study cannot be read (the 503 of a lost
database never asks it, nor does a 500), the switcher's cookie of any study, then the browser's
``Accept-Language`` among the site's ``LANGUAGES``, then ``LANGUAGE_CODE``. Staff paths (the
admin, the API) stay in ``LANGUAGE_CODE``, as their pages do.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from survey import language as L
from survey.models import Study

log = logging.getLogger(__name__)

_STUDY_PATH = re.compile(r"^/s/(?P<slug>[-a-zA-Z0-9_]+)/")
_STAFF_PREFIXES = ("/admin/", "/api/")


def _site_language(request: HttpRequest) -> str:
    site = [code for code, _name in settings.LANGUAGES]
    for name, value in request.COOKIES.items():
        if name.startswith("msl_") and value in site:
            return value
    asked = L.from_accept_language(request.headers.get("Accept-Language", ""), site)
    return asked or settings.LANGUAGE_CODE


def page_language(request: HttpRequest, *, ask_database: bool = True) -> tuple[str, Study | None]:
    """The error page's language, and the study it belongs to where that was read."""
    path = request.path
    if path.startswith(_STAFF_PREFIXES):
        return settings.LANGUAGE_CODE, None
    match = _STUDY_PATH.match(path)
    if match and ask_database:
        try:
            from survey.views import _participant

            study = Study.objects.filter(slug=match["slug"]).first()
            if study is not None:
                return L.choose(request, study, _participant(request, study)), study
        except Exception:  # the page of an error must not fail in turn
            log.warning("error page: the study of %s could not be read", path, exc_info=True)
    return _site_language(request), None


def render_error(
    request: HttpRequest, status: int, *, ask_database: bool = True, retry_after: str = ""
) -> HttpResponse:
    """``templates/survey/error.html`` for ``status``, in the participant's language."""
    language, study = page_language(request, ask_database=ask_database)
    translation.activate(language)
    request.LANGUAGE_CODE = language
    body = render_to_string("survey/error.html", {"status": status, "study": study})
    response = HttpResponse(body, status=status)
    response["Content-Language"] = language
    if retry_after:
        response["Retry-After"] = retry_after
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: every 404 of the site (an unknown study, a mistyped link)."""
    return render_error(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: reads no database (it may be what failed)."""
    return render_error(request, 500, ask_database=False)


def wants_page(request: HttpRequest) -> bool:
    """Whether a refused request came from a page (a link, a form) rather than a script's fetch
    of JSON (the trial page's submit, which reads the JSON answer and resends)."""
    return request.content_type != "application/json" and not request.path.startswith(
        _STAFF_PREFIXES
    )
