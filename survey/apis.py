"""The researcher API: one view per operation, explicit output serializers, access via
``survey.access``. A participant code opens nothing here."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from survey.access import get_study_for_user, studies_for_user
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
                "participants": serializers.DictField(child=serializers.IntegerField()),
                "forms": serializers.ListField(child=serializers.DictField()),
                "ratings_per_cell": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(study_progress(study=get_study_for_user(request.user, slug)))
