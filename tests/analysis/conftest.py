"""Studies for the exports, the report and the simulated participants."""

from __future__ import annotations

import pytest

from survey import services
from survey.models import Study


@pytest.fixture
def three_way_study(db, alice, conditions, make_clip, clone_track):
    """A live study owned by alice: one form, 4 videos x {video_caps, music_caps, msi}, one
    attention check, tracks that share one real file (fast), 1 s of listening per track."""
    names = ["video_caps", "music_caps", "msi"]
    for i in range(4):
        clip = make_clip(f"clip-{i}", captions=False)
        for name in names:
            clone_track(clip, conditions[name])
    study = Study.objects.create(
        title="Three-way", slug="three-way", min_listen_s=1.0, attention_trials=1
    )
    study.researchers.add(alice)
    form = services.form_create(
        study=study, name="f1", n_videos=4, conditions=[conditions[n] for n in names]
    )
    services.form_sample_trials(form=form, seed=3)
    services.study_go_live(study=study)
    study.refresh_from_db()
    return study


@pytest.fixture
def live_small(db, alice, conditions, make_clip, clone_track):
    """A live study "small" owned by alice: 2 videos x {video_caps, msi}, a headphone check and
    one attention check."""
    for i in range(3):
        clip = make_clip(f"clip-{i}", captions=False)
        for name in ("video_caps", "msi"):
            clone_track(clip, conditions[name])
    study = Study.objects.create(
        title="Small", slug="small", min_listen_s=1.0, headphone_check=True, attention_trials=1
    )
    study.researchers.add(alice)
    form = services.form_create(
        study=study, name="f1", n_videos=2, conditions=[conditions["video_caps"], conditions["msi"]]
    )
    services.form_sample_trials(form=form, seed=7)
    services.study_go_live(study=study)
    study.refresh_from_db()
    return study
