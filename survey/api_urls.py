from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from survey import apis

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("studies/", apis.StudyListApi.as_view(), name="api-studies"),
    path("studies/<slug:slug>/", apis.StudyDetailApi.as_view(), name="api-study"),
    path("studies/<slug:slug>/forms/", apis.FormListApi.as_view(), name="api-forms"),
    path("studies/<slug:slug>/progress/", apis.ProgressApi.as_view(), name="api-progress"),
]
