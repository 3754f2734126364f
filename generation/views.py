from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse


@staff_member_required
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A generation job's progress as JSON, polled by the admin's progress bars."""
    from django.http import JsonResponse

    from generation import jobs
    from generation.access import jobs_for_user
    from generation.models import GenerationJob

    job = jobs_for_user(request.user, GenerationJob.objects.filter(pk=pk)).first()
    if job is None:
        raise Http404("no such generation job")
    jobs.job_resume(job=job)  # a job the stopped server was running goes on (embedded default)
    return JsonResponse(jobs.job_progress(job=job))


@staff_member_required
def caption_job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A caption job's progress as JSON, polled by the admin's progress bars."""
    from django.http import JsonResponse

    from generation import captioning
    from generation.access import jobs_for_user
    from generation.models import CaptionJob

    job = jobs_for_user(request.user, CaptionJob.objects.filter(pk=pk)).first()
    if job is None:
        raise Http404("no such caption job")
    captioning.caption_job_resume(job=job)  # as above
    return JsonResponse(captioning.caption_job_progress(job=job))
