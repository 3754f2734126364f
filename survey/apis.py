"""The researcher API: one view per operation, explicit output serializers, access via
``survey.access``. A participant code opens nothing here."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.report import AnalysisSettings
from survey.access import get_study_for_user, studies_for_user
from survey.exports import FORMATS as EXPORT_FORMATS
from survey.exports import RATING_COLUMNS as EXPORT_RATING_COLUMNS
from survey.exports import export_http_response, report_http_response
from survey.selectors import study_progress


class StudyOutput(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    status = serializers.CharField()
    question = serializers.CharField()
    scale_min_label = serializers.CharField()
    scale_max_label = serializers.CharField()
    target_per_form = serializers.IntegerField()
    loudness_target_lufs = serializers.FloatField()
    created_at = serializers.DateTimeField()
    live_at = serializers.DateTimeField(allow_null=True)


class FormOutput(serializers.Serializer):
    name = serializers.CharField()
    n_videos = serializers.IntegerField()
    seed = serializers.IntegerField(allow_null=True)
    sampled_at = serializers.DateTimeField(allow_null=True)
    conditions = serializers.SerializerMethodField()
    trials = serializers.SerializerMethodField()

    def get_conditions(self, form) -> list[str]:
        return [c.name for c in form.conditions.all()]

    def get_trials(self, form) -> list[dict]:
        return [
            {
                "position": t.position,
                "clip": t.clip.key,
                "tracks": {tt.condition.name: tt.track_id for tt in t.trial_tracks.all()},
            }
            for t in form.trials.all()
        ]


class StudyListApi(APIView):
    @extend_schema(responses=StudyOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(StudyOutput(studies_for_user(request.user), many=True).data)


class StudyDetailApi(APIView):
    @extend_schema(responses=StudyOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(StudyOutput(get_study_for_user(request.user, slug)).data)


class FormListApi(APIView):
    @extend_schema(responses=FormOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        study = get_study_for_user(request.user, slug)
        forms = study.forms.prefetch_related(
            "conditions", "trials__clip", "trials__trial_tracks__condition"
        )
        return Response(FormOutput(forms, many=True).data)


class ProgressApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Progress",
            fields={
                "study": serializers.CharField(),
                "status": serializers.CharField(),
                "forms": serializers.ListField(child=serializers.DictField()),
                "ratings_per_cell": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(study_progress(study=get_study_for_user(request.user, slug)))


class RatingsExportApi(APIView):
    """All ratings of a study in long format: one row per rating (plus one per attention check),
    in the analysis core's column contract (``survey.exports.RATING_COLUMNS``)."""

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
    def get(self, request: Request, slug: str) -> HttpResponse | Response:
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
    def get(self, request: Request, slug: str) -> HttpResponse | Response:
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
        return report_http_response(study=study, kind=kind, settings=AnalysisSettings(seed=seed))
