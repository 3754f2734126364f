"""Shared fixtures: a fixed cast of users, media files made in the test, studies ready to run,
one torch thread per test process, and a media folder of a test's own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "allows_5xx(*codes): the test provokes these server error codes on purpose "
        "(every other 5xx the app answers during a test fails it)",
    )


def _server_errors_check(item) -> None:
    from studyserver.testing import take

    marker = item.get_closest_marker("allows_5xx")
    allowed = set(marker.args) if marker else set()
    unexpected = [e for e in take() if e.status not in allowed]
    if unexpected:
        listing = "\n".join(e.describe() for e in unexpected[:5])
        more = f"\n... and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        pytest.fail(
            f"the server answered {len(unexpected)} error(s) during this test:\n{listing}{more}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    from studyserver.testing import take

    take()  # forget what an earlier test left
    result = yield
    _server_errors_check(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    from studyserver.testing import take

    try:
        result = yield
    except BaseException:
        # The test failed on its own: keep its failure, and show the server errors beside it.
        found = take()
        if found:
            item.add_report_section("call", "server errors", "\n".join(e.describe() for e in found))
        raise
    _server_errors_check(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    _server_errors_check(item)
    return result


def pytest_sessionfinish(session, exitstatus):
    var = Path(settings.VAR_DIR)
    if "musiscene-test-" in var.name:
        shutil.rmtree(var, ignore_errors=True)


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    audio: bool = True,
    sample_rate: int = 32000,
    seed: int = 0,
) -> Path:
    """A small H.264 + AAC MP4: moving noise and a tone, so it is neither still nor silent."""
    from generation import media

    rng = np.random.default_rng(seed)
    w, h = size
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(int(seconds * fps))]
    sound = None
    if audio:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        sound = (0.3 * np.sin(2 * np.pi * (220 + 110 * seed) * t)).astype(np.float32)
    return media.write_video(
        frames, fps, path, audio=sound, sample_rate=sample_rate if audio else None
    )


def make_tone(
    seconds: float = 2.0, *, sample_rate: int = 32000, freq: float = 440.0, amp: float = 0.3
) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op torch thread per test process: the 2 cores are shared by the xdist workers,
    and toy-sized models run far faster on one thread than on threads fighting for the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def private_media(settings, tmp_path_factory) -> Path:
    """A media folder of this test alone. The default one is shared by the xdist workers, whose
    databases differ; tests that sweep unreferenced files or count the files made need their own."""
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


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", "alice@example.org", "password", is_staff=True
    )


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(
        "bob", "bob@example.org", "password", is_staff=True
    )


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_superuser("charlie", "charlie@example.org", "password")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media-in")


@pytest.fixture(scope="session")
def video_file(media_dir) -> Path:
    return make_video(media_dir / "clip.mp4")


@pytest.fixture
def conditions(db):
    """The paper's four conditions and the extra named ones (``msi_llm``), by name."""
    from generation.models import Condition
    from generation.services import conditions_ensure_paper

    conditions_ensure_paper()
    return {c.name: c for c in Condition.objects.all()}


@pytest.fixture
def make_clip(db, video_file):
    from generation import services
    from generation.models import Caption, CaptionKind, Clip

    first = {}

    def _make(key: str, *, captions: bool = True):
        # The first clip of a test goes through the real import; the others share its files.
        if "clip" not in first:
            clip = first["clip"] = services.clip_import(path=video_file, key=key, title=key)
        else:
            clip = Clip.objects.get(pk=first["clip"].pk)
            clip.pk, clip.key, clip.title = None, key, key
            clip.save()
        if captions:
            for kind in (
                CaptionKind.VIDEO,
                CaptionKind.MUSIC,
                CaptionKind.FUSION,
                CaptionKind.MSI,
                CaptionKind.MSI_PREDICTED,
            ):
                services.caption_add(
                    clip=clip,
                    kind=kind,
                    text=f"a {kind} caption for {key}, calm piano",
                    status=Caption.Status.APPROVED,
                )
        return clip

    return _make


@pytest.fixture
def make_track(db):
    from generation import services

    def _make(clip, condition, *, seed: int = 0, target: float = -23.0, freq: float = 440.0):
        return services.track_create(
            clip=clip,
            condition=condition,
            samples=make_tone(2.0, freq=freq + 50 * seed),
            sample_rate=32000,
            generator="test-tone",
            model_id="tone",
            seed=seed,
            parameters={"freq": freq},
            loudness_target_lufs=target,
        )

    return _make


@pytest.fixture
def clone_track(db, make_track):
    """Tracks that share one real track's files: for tests of the design, not of the ingest."""
    template = {}

    def _make(clip, condition):
        from generation.models import Track

        if "track" not in template:
            template["track"] = make_track(clip, condition)
            return template["track"]
        t = Track.objects.get(pk=template["track"].pk)
        t.pk = None
        t.clip, t.condition = clip, condition
        t.params_hash = f"clone-{clip.pk}-{condition.pk}"
        t.save()
        return t

    return _make


@pytest.fixture
def study_track(clone_track):
    """How the study fixtures make a clip's track: ``study_track(clip, condition, i)`` (``i``: the
    clip's index). Clones of one real track by default (the ingest has its own tests); a folder
    whose tests need a distinct sound per clip overrides it with ``distinct_tracks``."""
    return lambda clip, condition, i: clone_track(clip, condition)


@pytest.fixture
def distinct_tracks(make_track):
    """Each clip's tracks ingested for real, a tone of their own (300 Hz + 100 Hz per clip)."""
    return lambda clip, condition, i: make_track(clip, condition, freq=300 + 100 * i)


@pytest.fixture
def small_study(db, alice, conditions, make_clip, study_track):
    """A draft study owned by alice with one form: 2 videos x {video_caps, msi}, tracks bound."""
    from survey import services
    from survey.models import Study

    clips = [make_clip(f"clip-{i}") for i in range(3)]
    for i, clip in enumerate(clips):
        for name in ("video_caps", "msi"):
            study_track(clip, conditions[name], i)
    study = Study.objects.create(title="Small", slug="small")
    study.researchers.add(alice)
    form = services.form_create(
        study=study, name="f1", n_videos=2, conditions=[conditions["video_caps"], conditions["msi"]]
    )
    services.form_sample_trials(form=form, seed=7)
    return study


@pytest.fixture
def live_study(small_study):
    """The small study, live: tracks unlock after 1 s, recruiter URL with the code."""
    from survey import services

    small_study.min_listen_s = 1.0
    small_study.completion_redirect_url = "https://app.prolific.com/submissions/complete?cc={code}"
    small_study.save()
    services.study_go_live(study=small_study)
    small_study.refresh_from_db()
    return small_study


@pytest.fixture
def bot_factory(live_study):
    from tests.harness.bots import Bot

    return lambda **q: Bot(live_study, **q)


def _uses_the_database(item) -> bool:
    uses = set(getattr(item, "fixturenames", ()))
    return bool(
        item.get_closest_marker("django_db")
        or uses & {"db", "transactional_db", "live_server", "django_db_reset_sequences"}
    )


@pytest.fixture(autouse=True)
def _no_remembered_track_durations():
    """The server process remembers track durations and locked forms' designs by id
    (survey.participation); a test's rolled-back rows give their ids to the next test's, so each
    test starts remembering none."""
    from survey.participation import forget_designs, forget_track_durations

    forget_track_durations()
    forget_designs()


@pytest.fixture(autouse=True)
def _migration_data_back_after_a_flush(request, django_db_blocker):
    """A transactional test ends by flushing the database, which takes the rows that data
    migrations made (the Researcher group) with it; a later test of the same worker expects them.
    Before each database test, put them back if they are gone, the way the code makes them
    (``survey.services.researcher_group_ensure``)."""
    if _uses_the_database(request.node):
        request.getfixturevalue("django_db_setup")  # the test database, never the real one
        from django.contrib.auth.models import Group

        from survey.access import RESEARCHER_GROUP
        from survey.services import researcher_group_ensure

        with django_db_blocker.unblock():
            if not Group.objects.filter(name=RESEARCHER_GROUP).exists():
                researcher_group_ensure()
    yield
