"""The study admin with the analysis pages: the report, its tables (zip) and the exports.

The survey app's ``StudyAdmin`` knows nothing of the analysis; this app, installed after it,
registers a subclass in its place that adds the pages, their URLs and their links."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from analysis import report_options
from analysis.exports import ExportError, export_http_response
from analysis.report import AnalysisSettings
from analysis.study_report import report_http_response
from survey.admin import StudyAdmin as SurveyStudyAdmin
from survey.models import Study

admin.site.unregister(Study)


class ReportOptionsForm(forms.Form):
    """The screening thresholds of ``survey.report_options``, each a number (or off, yes/no)."""

    tables = forms.BooleanField(
        required=False, help_text="Download every table as CSV (zip) instead of the page."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        base = report_options.defaults()
        for o in report_options.OPTIONS:
            value = base[o.name]
            shown = (
                "off"
                if value is None
                else "yes"
                if value is True
                else "no"
                if value is False
                else value
            )
            self.fields[o.name] = forms.CharField(
                initial=shown, label=o.name.replace("_", " "), help_text=f"{o.help}: {o.accepts}."
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        given = {o.name: data[o.name] for o in report_options.OPTIONS if o.name in data}
        try:
            self.screening = report_options.screening_from(given)
        except report_options.OptionError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Study)
class StudyAdmin(SurveyStudyAdmin):
    actions = [*SurveyStudyAdmin.actions, "report"]

    def link_items(self, obj: Study) -> list[tuple[str, str, bool]]:
        report = reverse("admin:survey_study_report", args=[obj.pk])
        bundle = reverse("admin:survey_study_report_bundle", args=[obj.pk])
        ratings = reverse("admin:survey_study_export", args=[obj.pk]) + "?table=ratings&format=csv"
        return [
            *super().link_items(obj),
            ("report", report, True),
            ("tables (zip)", bundle, False),
            ("ratings (CSV)", ratings, False),
            # recruiter ids: for the researcher's records, never for publication
            ("identifying (CSV)", ratings.replace("table=ratings", "table=identifying"), False),
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
        """The analysis report, as the offline HTML page that ``analysis_report`` writes; the
        screening thresholds come from the query (``?max_attention_failures=1``, see the
        "Report with other screening thresholds" action)."""
        return self._report(request, pk, "html")

    def report_bundle_view(self, request, pk: int):
        return self._report(request, pk, "zip")

    def _report(self, request, pk: int, kind: str):
        study = self._study(request, pk)
        try:
            screening = report_options.screening_from(request.GET)
        except report_options.OptionError as exc:
            return HttpResponseBadRequest(
                f"The report cannot use these screening thresholds: {exc}",
                content_type="text/plain",
            )
        return report_http_response(
            study=study, kind=kind, settings=AnalysisSettings(screening=screening)
        )

    @admin.action(description="Report with other screening thresholds…")
    def report(self, request, queryset):
        """Ask for the post-screening thresholds, then open the report (or its tables) with them."""
        if queryset.count() != 1:
            self.message_user(request, "Select one study for its report.", messages.ERROR)
            return None
        study = queryset.get()
        form = ReportOptionsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            query = report_options.query_string(form.screening)
            name = (
                "survey_study_report_bundle"
                if form.cleaned_data["tables"]
                else "survey_study_report"
            )
            url = reverse(f"admin:{name}", args=[study.pk])
            return redirect(f"{url}?{query}" if query else url)
        return TemplateResponse(
            request,
            "admin/survey/study_report_options.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Report of {study.title}: screening thresholds",
                "form": form,
                "study": study,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    def export_view(self, request, pk: int):
        """``?table=ratings|participants|identifying&format=csv|parquet|json[&free_text=1]``: a
        download. ``ratings`` and ``participants`` are pseudonymised; ``identifying`` is the
        researcher's own record of recruiter ids."""
        study = self._study(request, pk)
        try:
            return export_http_response(
                study=study,
                table=request.GET.get("table", "ratings"),
                fmt=request.GET.get("format", "csv"),
                free_text=request.GET.get("free_text") == "1",
            )
        except ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:survey_study_changelist")
