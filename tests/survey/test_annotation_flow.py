"""Annotation: participants describe the scene a clip's music evokes, through the same flow."""

from __future__ import annotations

import json
import uuid

import pytest

from generation.models import Caption
from survey import participation, services
from survey.models import Annotation, Assignment, Form, Participant, Study
from tests.harness.bots import Bot

TEXT = "A slow sunrise over a quiet harbour, boats rocking gently."


@pytest.fixture
def annotation_study(db, alice, make_clip):
    clips = [make_clip(f"m{i}", captions=False) for i in range(4)]
    study = Study.objects.create(title="Describe", slug="describe", min_listen_s=1.0)
    study.researchers.add(alice)
    form = services.form_create(
        study=study,
        name="a1",
        n_videos=2,
        kind=Form.Kind.ANNOTATION,
        annotators_per_clip=2,
        min_description_chars=20,
    )
    services.form_sample_trials(form=form)
    assert services.study_validate(study=study) == []
    services.study_go_live(study=study)
    study.refresh_from_db()
    return study, clips


class Annotator(Bot):
    def to_clips(self):
        self.consent()
        self.advance("instructions")  # no practice trial for annotation forms

    def write(self, cfg, *, text=TEXT, tags=None, heard=None, sid=None):
        payload = {
            "index": cfg["index"],
            "submission_id": sid or str(uuid.uuid4()),
            "text": text,
            "tags": tags or {},
            "listening_s": cfg["tracks"][0]["required_s"] if heard is None else heard,
        }
        self.let_time_pass(payload["listening_s"])
        return self.client.post(
            f"/s/{self.study.slug}/run/submit/",
            json.dumps(payload),
            content_type="application/json",
        )


def test_an_annotator_describes_clips_to_completion(annotation_study):
    study, _ = annotation_study
    bot = Annotator(study, PROLIFIC_PID="ann-1")
    bot.to_clips()
    page = bot.page().content.decode()
    assert "What kind of scene or video would it suit" in page
    for i in range(2):
        cfg = bot.config()
        assert cfg["mode"] == "annotation" and cfg["index"] == i and cfg["min_chars"] == 20
        assert (
            bot.client.get(cfg["tracks"][0]["audio_url"], HTTP_RANGE="bytes=0-99").status_code
            == 206
        )
        resp = bot.write(cfg, tags={"mood": ["calm"], "time of day": ["morning"]})
        assert resp.status_code == 200 and resp.json()["status"] == "stored", resp.content
    bot.client.post(f"/s/{study.slug}/run/questionnaire/", {"device": "headphones"})
    p = bot.participant
    assert p.status == "completed"
    annotations = list(Annotation.objects.filter(participant=p))
    assert len(annotations) == 2 and annotations[0].tags == {
        "mood": ["calm"],
        "time of day": ["morning"],
    }
    caption = annotations[0].caption
    assert caption.kind == "human_msi" and caption.text == TEXT
    assert (
        caption.parameters["participant"] == p.public_id
        and caption.parameters["listening_s"] >= 1.0
    )
    assert caption.clip_id == annotations[0].trial.clip_id


def test_what_must_fail(annotation_study):
    study, _ = annotation_study
    bot = Annotator(study)
    bot.to_clips()
    cfg = bot.config()
    fails = {
        "empty": bot.write(cfg, text="   "),
        "too short": bot.write(cfg, text="nice music"),
        "not text": bot.write(cfg, text=42),
        "before hearing": bot.write(cfg, heard=0.2),
        "unknown tag": bot.write(cfg, tags={"mood": ["furious-unlisted"]}),
        "unknown category": bot.write(cfg, tags={"colour": ["blue"]}),
        "another item": bot.write({**cfg, "index": 1}),
    }
    for what, resp in fails.items():
        assert resp.status_code in (400, 409), what
        assert resp.json()["error"], what
    assert not Annotation.objects.exists() and not Caption.objects.filter(kind="human_msi").exists()


def test_a_resent_description_is_stored_once(annotation_study):
    study, _ = annotation_study
    bot = Annotator(study)
    bot.to_clips()
    cfg = bot.config()
    sid = str(uuid.uuid4())
    assert bot.write(cfg, sid=sid).json()["status"] == "stored"
    assert bot.write(cfg, sid=sid).json()["status"] == "duplicate"
    assert bot.write(cfg).status_code == 409
    assert Annotation.objects.count() == 1 == Caption.objects.filter(kind="human_msi").count()


def test_another_participants_clip_opens_nothing(annotation_study):
    study, _ = annotation_study
    a, b = Annotator(study), Annotator(study)
    a.to_clips()
    b.to_clips()
    cfg = a.config()
    assert b.client.get(cfg["tracks"][0]["audio_url"]).status_code == 404
    assert a.client.get(cfg["tracks"][0]["audio_url"]).status_code == 200


def test_clips_are_spread_to_reach_their_target(annotation_study):
    study, clips = annotation_study
    for _ in range(4):  # 4 annotators x 2 clips = 8 descriptions = 4 clips x 2 annotators
        participation.participant_start(study=study)
    counts = sorted(Assignment.objects.values_list("trial__clip__key", flat=True))
    per_clip = {k: counts.count(k) for k in set(counts)}
    assert len(per_clip) == 4 and set(per_clip.values()) == {2}
    assert all(len(set(p.trial_order)) == 2 for p in Participant.objects.all())


def test_abandoned_slots_are_given_to_others(annotation_study):
    from datetime import timedelta

    from django.utils import timezone

    study, _ = annotation_study
    first, _ = participation.participant_start(study=study)
    Participant.objects.filter(pk=first.pk).update(last_seen_at=timezone.now() - timedelta(hours=2))
    others = [
        participation.participant_start(study=study)[0] for _ in range(2)
    ]  # the first start releases
    assert Participant.objects.get(pk=first.pk).status == "abandoned"
    # the abandoned slots no longer count: the two active annotators cover the four clips once each
    assert sorted(t for p in others for t in p.trial_order) == sorted(
        Assignment.objects.filter(participant__in=others).values_list("trial_id", flat=True)
    )
    assert len({t for p in others for t in p.trial_order}) == 4


def _describe(study, texts_and_tags):
    """Each annotator writes one description per assigned clip."""
    for texts in texts_and_tags:
        bot = Annotator(study)
        bot.to_clips()
        for text, tags in texts:
            assert bot.write(bot.config(), text=text, tags=tags).status_code == 200


def test_exports_and_tag_agreement(annotation_study, tmp_path):
    import pandas as pd
    from django.core.management import call_command

    from analysis.annotations import annotations_frame, tag_agreement

    study, _ = annotation_study
    calm = {"mood": ["calm"], "pace": ["slow"]}
    _describe(study, [[(TEXT, calm), (TEXT + " Seagulls.", calm)]] * 4)
    frame = annotations_frame(study=study)
    assert len(frame) == 8 and frame["clip"].nunique() == 4
    assert set(frame.columns) >= {
        "participant",
        "clip",
        "text",
        "tags",
        "listening_s",
        "submitted_at",
    }
    tags = tag_agreement(frame, {"mood": ["calm", "sad"]})
    assert (
        tags.loc[0, "alpha_nominal"] == 1.0
    )  # everyone chose calm and never sad: perfect agreement
    out = tmp_path / "ann.csv"
    call_command("export_annotations", "--study", "describe", "--out", str(out))
    assert len(pd.read_csv(out)) == 8
    # a rejected description leaves the export
    cap = Caption.objects.filter(kind="human_msi").first()
    cap.status = "rejected"
    cap.save()
    assert len(annotations_frame(study=study)) == 7


def test_the_descriptions_export_is_pseudonymised_and_spreadsheet_safe(annotation_study, tmp_path):
    from django.core.management import call_command

    study, _ = annotation_study
    pid = "5f0c1e2d3b4a5968778695a4"
    bot = Annotator(study, PROLIFIC_PID=pid)
    bot.to_clips()
    formula = '=HYPERLINK("http://evil.example","a calm harbour at dawn")'
    assert bot.write(bot.config(), text=formula).status_code == 200
    out = tmp_path / "ann.csv"
    call_command("export_annotations", "--study", "describe", "--out", str(out))
    body = out.read_text()
    assert pid not in body and "prolific_pid" not in body
    assert bot.participant.public_id in body
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body


def test_text_agreement_among_annotators(annotation_study, tmp_path):
    import pandas as pd
    from django.core.management import call_command

    from analysis.annotations import annotations_frame, text_agreement
    from analysis.metrics.text import WordNetMissingError, load_wordnet

    try:
        load_wordnet()
    except WordNetMissingError as exc:
        pytest.skip(f"METEOR needs WordNet: {exc}")
    study, _ = annotation_study
    calm = {"mood": ["calm"]}
    _describe(study, [[(TEXT, calm), (TEXT + " Seagulls.", calm)]] * 4)
    pairs = text_agreement(annotations_frame(study=study), bertscore_model=None)
    assert len(pairs) == 4  # one pair of annotators per clip
    assert pairs["rouge_l"].between(0.8, 1.0).all()  # near-identical descriptions agree
    call_command(
        "export_annotations",
        "--study",
        "describe",
        "--out",
        str(tmp_path / "a.csv"),
        "--agreement",
        str(tmp_path / "agree.csv"),
    )
    assert len(pd.read_csv(tmp_path / "agree.csv")) == 4


def test_export_annotations_bad_arguments(annotation_study, tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no study"):
        call_command("export_annotations", "--study", "nope", "--out", str(tmp_path / "a.csv"))
    with pytest.raises(CommandError, match="format"):
        call_command("export_annotations", "--study", "describe", "--out", str(tmp_path / "a.xlsx"))
