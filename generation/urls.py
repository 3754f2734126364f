from django.urls import path

from generation import views

urlpatterns = [
    path(
        "generation/jobs/<int:pk>/progress.json", views.job_progress, name="generation-job-progress"
    ),
    path(
        "generation/caption-jobs/<int:pk>/progress.json",
        views.caption_job_progress,
        name="generation-caption-job-progress",
    ),
]
