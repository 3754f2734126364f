"""Template helpers of the participant pages' languages."""

from __future__ import annotations

from django import template
from django.utils import translation

from survey import texts
from survey.models import Study

register = template.Library()


@register.filter
def study_text(study: Study, field: str) -> str:
    """The study's ``field`` (title, consent_text, question ...) in the page's language;
    ``annotation_instructions`` is the instructions an annotation form shows."""
    if not isinstance(study, Study):
        return ""
    language = translation.get_language()
    if field == "annotation_instructions":
        if language == study.default_language:
            return study.annotation_instructions
        field = "instructions_text"
    return study.text(field, language)


@register.simple_tag
def page_texts(kind: str, config: dict) -> dict[str, object]:
    """The scripts' texts of a trial or annotation page, for ``json_script``."""
    if kind == "annotation":
        return texts.annotation_texts()
    longest = max((float(t.get("required_s") or 0) for t in config.get("tracks", [])), default=0)
    return texts.trial_texts(longest)
