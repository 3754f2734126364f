"""The study admin with the analysis pages: the report, its tables (zip) and the exports.

The survey app's ``StudyAdmin`` knows nothing of the analysis; this app, installed after it,
registers a subclass in its place that adds the pages, their URLs and their links."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse

from analysis.exports import ExportError, export_http_response
from analysis.study_report import report_http_response
from survey.admin import StudyAdmin as SurveyStudyAdmin
from survey.models import Study

admin.site.unregister(Study)


@admin.register(Study)
class StudyAdmin(SurveyStudyAdmin):
    def link_items(self, obj: Study) -> list[tuple[str, str, bool]]:
        report = reverse("admin:survey_study_report", args=[obj.pk])
        bundle = reverse("admin:survey_study_report_bundle", args=[obj.pk])
        ratings = reverse("admin:survey_study_export", args=[obj.pk]) + "?table=ratings&format=csv"
        return [
            *super().link_items(obj),
            ("report", report, True),
            ("tables (zip)", bundle, False),
            ("ratings (CSV)", ratings, False),
        ]

    def get_urls(self):
        own = [
            path(
                "<int:pk>/report/",
                self.admin_site.admin_view(self.report_view),
                name="survey_study_report",
            ),
            path(
                "<int:pk>/report/tables.zip",
                self.admin_site.admin_view(self.report_bundle_view),
                name="survey_study_report_bundle",
            ),
            path(
                "<int:pk>/export/",
                self.admin_site.admin_view(self.export_view),
                name="survey_study_export",
            ),
        ]
        return own + super().get_urls()

    def report_view(self, request, pk: int):
        """The analysis report, as the offline HTML page that ``analysis_report`` writes."""
        return report_http_response(study=self._study(request, pk), kind="html")

    def report_bundle_view(self, request, pk: int):
        return report_http_response(study=self._study(request, pk), kind="zip")

    def export_view(self, request, pk: int):
        """``?table=ratings|participants&format=csv|parquet|json``: a download."""
        study = self._study(request, pk)
        try:
            return export_http_response(
                study=study,
                table=request.GET.get("table", "ratings"),
                fmt=request.GET.get("format", "csv"),
            )
        except ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:survey_study_changelist")
