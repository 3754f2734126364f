from django.urls import path

from survey import views

urlpatterns = [
    path("s/<slug:slug>/", views.study_entry, name="study-entry"),
]
