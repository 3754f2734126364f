from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from survey.models import Study


def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """A participant's entry to a study. Draft and closed studies say so politely."""
    study = get_object_or_404(Study, slug=slug)
    if study.status != Study.Status.LIVE:
        return render(request, "survey/unavailable.html", {"study": study}, status=403 if study.status == "draft" else 410)
    return render(request, "survey/entry.html", {"study": study})
