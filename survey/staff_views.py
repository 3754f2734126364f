"""Pages for researchers outside the admin: the media previews of their studies."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from generation.ranged import ranged_file_response
from survey.access import media_visible_to


@staff_member_required
def staff_media(request: HttpRequest, path: str) -> HttpResponseBase:
    """Media for researchers (admin previews), by stored name: only files of the researcher's
    own studies or of the shared library (survey.access.media_visible_to). Participants get
    their own opaque URLs."""
    if ".." in path.split("/") or not media_visible_to(request.user, path):
        raise Http404("no such media file")
    return ranged_file_response(request, default_storage, path)
