from django.urls import path

from analysis import apis

urlpatterns = [
    path("studies/<slug:slug>/ratings/", apis.RatingsExportApi.as_view(), name="api-ratings"),
    path(
        "studies/<slug:slug>/participants/",
        apis.ParticipantsExportApi.as_view(),
        name="api-participants",
    ),
    path("studies/<slug:slug>/report/", apis.ReportApi.as_view(), name="api-report"),
]
