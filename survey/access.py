"""Who may see what: one function per object type, used by the admin, the API and the views.

A *researcher* is a staff user in the ``Researcher`` group (made by a migration, with exactly
``RESEARCHER_PERMISSIONS``) who is listed on the studies they work on. Superusers see everything.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from generation.access import is_researcher, jobs_for_user  # noqa: F401  (re-exported)
from survey.models import Study

#: The group a researcher account belongs to (``manage.py create_researcher``).
RESEARCHER_GROUP = "Researcher"

#: What the Researcher group may do, as ``app_label.codename``. The shared media library (clips,
#: captions, conditions, tracks) is open to every researcher; studies and everything under them
#: (forms, participants, ratings, reports, exports) only to the researchers listed on the study.
#: Deleting a study, or changing users, groups and tokens, stays with superusers.
RESEARCHER_PERMISSIONS: tuple[str, ...] = (
    "survey.add_study",
    "survey.change_study",
    "survey.view_study",
    "survey.add_form",
    "survey.change_form",
    "survey.delete_form",
    "survey.view_form",
    "survey.view_trial",
    "survey.view_participant",
    "survey.delete_participant",
    "survey.view_rating",
    "survey.delete_rating",
    "survey.view_annotation",
    "analysis.view_metricresult",
    "survey.view_datadeletion",
    "survey.view_withdrawal",
    "survey.add_studytext",
    "survey.change_studytext",
    "survey.delete_studytext",
    "survey.view_studytext",
    "generation.add_clip",
    "generation.change_clip",
    "generation.view_clip",
    "generation.add_caption",
    "generation.change_caption",
    "generation.view_caption",
    "generation.view_captionrevision",
    "generation.add_condition",
    "generation.view_condition",
    "generation.add_track",
    "generation.view_track",
    "generation.view_generationjob",
    "generation.view_captionjob",
)


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


def media_visible_to(user, name: str) -> bool:
    """Whether a researcher may fetch the stored file ``name`` through ``/media/``: superusers
    any; a researcher the clips and tracks of their own studies, and those of the shared library
    that no study uses yet. A file of another researcher's study is not theirs to fetch."""
    from generation.models import Clip, Track

    if not is_researcher(user):
        return False
    clips = Clip.objects.filter(Q(video=name) | Q(original_audio=name))
    tracks = Track.objects.filter(Q(audio=name) | Q(video=name))
    if user.is_superuser:
        return clips.exists() or tracks.exists()
    mine = studies_for_user(user)
    if (
        clips.filter(trials__form__study__in=mine).exists()
        or tracks.filter(trials__form__study__in=mine).exists()
    ):
        return True
    # A file no study uses (the shared library) is open to every researcher; a file that some
    # study uses (several rows may share one stored file) only to that study's researchers.
    in_a_study = (
        clips.filter(trials__isnull=False).exists() or tracks.filter(trials__isnull=False).exists()
    )
    return (clips.exists() or tracks.exists()) and not in_a_study
