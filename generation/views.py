from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse

from generation.ranged import ranged_file_response


@staff_member_required
def staff_media(request: HttpRequest, path: str) -> HttpResponse:
    """Media for researchers (admin previews), by stored name: only files of the researcher's
    own studies or of the shared library (survey.access.media_visible_to). Participants get
    their own opaque URLs."""
    from survey.access import media_visible_to

    if ".." in path.split("/") or not media_visible_to(request.user, path):
        raise Http404("no such media file")
    return ranged_file_response(request, default_storage, path)


@staff_member_required
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A generation job's progress as JSON, polled by the admin's progress bars."""
    from django.http import JsonResponse

    from generation import jobs
    from generation.models import GenerationJob
    from survey.access import jobs_for_user

    job = jobs_for_user(request.user, GenerationJob.objects.filter(pk=pk)).first()
    if job is None:
        raise Http404("no such generation job")
    return JsonResponse(jobs.job_progress(job=job))


@staff_member_required
def caption_job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A caption job's progress as JSON, polled by the admin's progress bars."""
    from django.http import JsonResponse

    from generation import captioning
    from generation.models import CaptionJob
    from survey.access import jobs_for_user

    job = jobs_for_user(request.user, CaptionJob.objects.filter(pk=pk)).first()
    if job is None:
        raise Http404("no such caption job")
    return JsonResponse(captioning.caption_job_progress(job=job))
