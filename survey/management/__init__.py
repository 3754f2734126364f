"""Helpers shared by the management commands of every app."""

from __future__ import annotations

from django.core.management.base import CommandError

from survey.models import Study


def study_by_slug(slug: str) -> Study:
    """The study ``slug`` or a CommandError that names the studies there are."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        known = list(Study.objects.order_by("slug").values_list("slug", flat=True)[:20])
        hint = f"; the studies are: {', '.join(known)}" if known else "; there are no studies yet"
        raise CommandError(f"no study with the slug {slug!r}{hint}")
    return study
