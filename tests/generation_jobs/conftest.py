"""Fixtures of the generation-job tests: a tiny MusicGen and a study whose tracks are missing."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MusicGen folder, built once per test process."""
    from modeling.musicgen import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "musicgen", seed=0)


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path_factory) -> Path:
    """A media folder of this test alone. The default one is shared by the xdist workers, whose
    databases differ, and these tests sweep unreferenced track files and count the files made."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": settings.MEDIA_URL},
        },
    }
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """Toy-sized ops run faster on one thread, above all on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
