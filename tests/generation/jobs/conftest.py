"""Fixtures of the generation-job tests: a tiny MusicGen and a study whose tracks are missing."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MusicGen folder, built once per test process."""
    from modeling.musicgen import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "musicgen", seed=0)


@pytest.fixture
def bare_study(db, alice, conditions, make_clip):
    """A draft study with one sampled form, 2 clips x {video_caps, msi}, and no tracks yet."""
    from survey import services
    from survey.models import Study

    clips = [make_clip(f"gen-{i}") for i in range(2)]
    study = Study.objects.create(title="Generation", slug="gen")
    study.researchers.add(alice)
    form = services.form_create(
        study=study,
        name="f1",
        n_videos=2,
        clip_pool=clips,
        conditions=[conditions["video_caps"], conditions["msi"]],
    )
    services.form_sample_trials(form=form, seed=1)
    return study
