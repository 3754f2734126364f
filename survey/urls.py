from django.conf import settings
from django.urls import path

from survey import staff_views, views

urlpatterns = [
    path("s/<slug:slug>/", views.study_entry, name="study-entry"),
    path("s/<slug:slug>/run/", views.study_run, name="study-run"),
    path("s/<slug:slug>/run/submit/", views.study_submit, name="study-submit"),
    path("s/<slug:slug>/run/advance/", views.study_advance, name="study-advance"),
    path("s/<slug:slug>/run/headphones/", views.study_headphone, name="study-headphone"),
    path(
        "s/<slug:slug>/run/headphones/<int:index>.wav",
        views.study_headphone_audio,
        name="study-headphone-audio",
    ),
    path("s/<slug:slug>/run/questionnaire/", views.study_questionnaire, name="study-questionnaire"),
    path("s/<slug:slug>/m/<str:token>", views.study_media, name="study-media"),
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>", staff_views.staff_media, name="staff-media"
    ),
]
