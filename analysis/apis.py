"""The researcher API of the analysis: the long ratings table, the participants table and the
report of a study. Access through ``survey.access`` as for the rest of the API."""

from __future__ import annotations

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import report_options
from analysis.exports import FORMATS as EXPORT_FORMATS
from analysis.exports import RATING_COLUMNS as EXPORT_RATING_COLUMNS
from analysis.exports import export_http_response
from analysis.report import AnalysisSettings
from analysis.study_report import report_http_response
from survey.access import get_study_for_user


class RatingsExportApi(APIView):
    """All ratings of a study in long format: one row per rating (plus one per attention check),
    in the analysis core's column contract (``analysis.exports.RATING_COLUMNS``)."""

    table = "ratings"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as",
                str,
                enum=list(EXPORT_FORMATS),
                description="json (default), csv (streamed) or parquet",
            )
        ],
        responses={
            (200, "application/json"): inline_serializer(
                "RatingRow",
                fields={c: serializers.CharField() for c in EXPORT_RATING_COLUMNS},
                many=True,
            ),
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, slug: str) -> HttpResponseBase | Response:
        study = get_study_for_user(request.user, slug)
        fmt = request.query_params.get("as", "json")
        if fmt not in EXPORT_FORMATS:
            return Response(
                {"detail": f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}"},
                status=400,
            )
        return export_http_response(study=study, table=self.table, fmt=fmt)


class ParticipantsExportApi(RatingsExportApi):
    """One row per participant: status, times, questionnaire answers, checks."""

    table = "participants"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as", str, enum=list(EXPORT_FORMATS), description="json (default), csv or parquet"
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, slug: str) -> HttpResponseBase | Response:
        return super().get(request, slug)


class ReportApi(APIView):
    """The analysis report of a study: one offline HTML page, or (``?as=zip``) every table as
    CSV in a zip. Computed on request: seconds for a paper-sized study."""

    @extend_schema(
        parameters=[
            OpenApiParameter("as", str, enum=["html", "zip"], description="html (default) or zip"),
            OpenApiParameter(
                "seed", int, description="seed of the bootstrap, 0 to 2**32 - 1 (default 0)"
            ),
            *[
                OpenApiParameter(o.name, str, description=f"{o.help}: {o.accepts}")
                for o in report_options.OPTIONS
            ],
        ],
        responses={
            (200, "text/html"): OpenApiTypes.STR,
            (200, "application/zip"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, slug: str) -> HttpResponse | Response:
        study = get_study_for_user(request.user, slug)
        kind = request.query_params.get("as", "html")
        if kind not in ("html", "zip"):
            return Response({"detail": "as must be html or zip"}, status=400)
        try:
            seed = int(request.query_params.get("seed", 0))
        except ValueError:
            seed = -1
        if not 0 <= seed < 2**32:
            return Response({"detail": "seed must be an integer from 0 to 2**32 - 1"}, status=400)
        try:
            screening = report_options.screening_from(request.query_params)
        except report_options.OptionError as exc:
            return Response({"detail": str(exc)}, status=400)
        return report_http_response(
            study=study, kind=kind, settings=AnalysisSettings(seed=seed, screening=screening)
        )
