"""Who may see what: one function per object type, used by the admin, the API and the views."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from survey.models import Study


def studies_for_user(user) -> QuerySet[Study]:
    """Studies a researcher may see: superusers see all, staff see the ones they are on."""
    if not (user and user.is_authenticated and user.is_active):
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(researchers=user)


def get_study_for_user(user, slug: str) -> Study:
    """The study ``slug`` if ``user`` may see it; 404 otherwise (no hint that it exists)."""
    try:
        return studies_for_user(user).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("no such study") from None
