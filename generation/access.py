"""Who may see the generation app's jobs (the rest of ``survey.access``'s rules build on
``is_researcher``): one function per object type, used by the admin and the views."""

from __future__ import annotations

from django.db.models import QuerySet


def is_researcher(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def jobs_for_user(user, queryset: QuerySet) -> QuerySet:
    """Generation and caption jobs: superusers see all, a researcher the jobs they started."""
    if not is_researcher(user):
        return queryset.none()
    if user.is_superuser:
        return queryset
    return queryset.filter(created_by=user)
