"""Designing a study: seeded sampling, the paper's forms, validation and the design lock."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from survey import services
from survey.models import Study


@pytest.fixture
def pool(make_clip, clone_track, conditions):
    clips = [make_clip(f"p{i:02d}") for i in range(16)]
    for clip in clips:
        for cond in conditions.values():
            clone_track(clip, cond)
    return clips


def test_sampling_is_seeded_and_the_seed_is_stored(small_study, conditions):
    form = small_study.forms.get()
    first = [t.clip_id for t in services.form_sample_trials(form=form, seed=123)]
    again = [t.clip_id for t in services.form_sample_trials(form=form, seed=123)]
    form.refresh_from_db()
    assert first == again
    assert form.seed == 123 and form.sampled_at is not None
    seeds_seen = {
        tuple(t.clip_id for t in services.form_sample_trials(form=form, seed=s)) for s in range(10)
    }
    assert len(seeds_seen) > 1  # different seeds draw different sets (3 clips, 2 drawn)


def test_sampling_without_a_seed_records_the_one_drawn(small_study):
    form = small_study.forms.get()
    trials = services.form_sample_trials(form=form)
    form.refresh_from_db()
    assert form.seed is not None
    assert [t.clip_id for t in services.form_sample_trials(form=form, seed=form.seed)] == [
        t.clip_id for t in trials
    ]


def test_a_form_cannot_ask_for_more_videos_than_its_pool(small_study):
    form = small_study.forms.get()
    form.n_videos = 4
    form.save()
    with pytest.raises(ValidationError, match="pool has 3"):
        services.form_sample_trials(form=form, seed=1)


def test_the_paper_design_is_one_call(db, pool):
    study = Study.objects.create(title="Paper", slug="paper")
    form1, form2 = services.study_add_paper_forms(study=study, seed=5)
    assert (form1.n_videos, form1.trials.count()) == (15, 15)
    assert sorted(c.name for c in form1.conditions.all()) == ["msi", "music_caps", "video_caps"]
    assert (form2.n_videos, form2.trials.count()) == (8, 8)
    assert sorted(c.name for c in form2.conditions.all()) == ["fusion", "msi"]
    assert (form1.seed, form2.seed) == (5, 6)
    for trial in form1.trials.all():
        assert trial.trial_tracks.count() == 3
    assert services.study_validate(study=study) == []


def test_validation_names_what_is_missing(small_study, conditions):
    form = small_study.forms.get()
    form.conditions.add(conditions["fusion"])  # no fusion tracks exist
    services.form_bind_tracks(form=form)
    problems = services.study_validate(study=small_study)
    assert len(problems) == 2
    assert all("fusion" in p.where and p.message == "no track" for p in problems)
    with pytest.raises(ValidationError):
        services.study_go_live(study=small_study)
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.DRAFT


def test_validation_finds_a_file_that_no_longer_decodes(small_study):
    track = small_study.forms.get().trials.first().tracks.first()
    with open(track.audio.path, "wb") as fh:
        fh.write(b"\\x00" * 100)
    problems = services.study_validate(study=small_study)
    assert any("audio file does not decode" in p.message for p in problems)


def test_validation_checks_the_study_loudness_target(small_study):
    small_study.loudness_target_lufs = -16
    small_study.save()
    problems = services.study_validate(study=small_study)
    assert problems and all("LUFS" in p.message for p in problems)


def test_going_live_locks_the_design(small_study):
    services.study_go_live(study=small_study)
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.LIVE and small_study.live_at
    form = small_study.forms.get()
    with pytest.raises(ValidationError, match="locked"):
        services.form_sample_trials(form=form, seed=1)
    with pytest.raises(ValidationError, match="locked"):
        services.form_bind_tracks(form=form)
    with pytest.raises(ValidationError, match="not a draft"):
        services.study_go_live(study=small_study)
    services.study_close(study=small_study)
    small_study.refresh_from_db()
    assert small_study.status == Study.Status.CLOSED
