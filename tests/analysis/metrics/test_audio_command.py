"""audio_metrics end to end on a small study with tiny random models: Table 3, stored with
settings."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from analysis.metric_results import study_tracks
from analysis.metrics import tiny
from analysis.metrics.audio import load_audio
from analysis.metrics.clap import TextAudio, clap_scores
from analysis.metrics.embeddings import embed_clips, get_embedder
from analysis.metrics.fad import fad_table
from analysis.metrics.kl import ClipPair, kl_audiocraft_clips
from analysis.metrics.taggers import get_tagger
from analysis.models import MetricResult
from generation.models import Caption

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_metric_models_django")
    return {
        "vggish": tiny.build_tiny_vggish(root / "vggish"),
        "clap": tiny.build_tiny_clap(root / "clap"),
        "mert": tiny.build_tiny_hubert(root / "mert"),
        "ast": tiny.build_tiny_ast(root / "ast"),
    }


def raw_path(track) -> str:
    from generation.services import track_raw_audio_name

    return track.audio.storage.path(track_raw_audio_name(track))


def run(*args: str) -> str:
    out = StringIO()
    call_command("audio_metrics", *args, stdout=out)
    return out.getvalue()


def test_it_computes_table_3_and_stores_each_value_with_its_settings(small_study, models):
    out = run(
        "--study",
        "small",
        "--metrics",
        "fad,kl,clap",
        "--embedding",
        f"vggish:{models['vggish']}",
        "--tagger",
        f"ast:{models['ast']}",
        "--clap-model",
        str(models["clap"]),
    )
    assert "Table 3 for study small" in out and "all frames of each condition" in out
    assert f"KL classifier: ast:{models['ast']}" in out and "audio_source raw" in out
    lines = {
        ln.split()[0]: ln
        for ln in out.splitlines()
        if ln.strip().startswith(("msi ", "video_caps "))
    }
    assert set(lines) == {"msi", "video_caps"}

    tracks = study_tracks(study=small_study)
    assert len(tracks) == 4  # 2 trial clips x 2 conditions
    fad = MetricResult.objects.filter(metric="fad", scope="condition").order_by("condition__name")
    assert [r.condition.name for r in fad] == ["msi", "video_caps"]
    for r in fad:
        assert r.kind == "audio" and r.reference == "original" and r.study == small_study
        assert (
            r.n == 6 and r.n_unit == "frames"
        )  # 2 tracks x 3 Google-framed examples of a 2 s track, equal
        assert r.settings["framing"] == "google" and r.settings["n_reference"] == 6
        assert (
            r.settings["n_available"] == 6
            and r.settings["equal_n"] is False
            and r.settings["audio_source"] == "raw"
            and r.settings["seed"] == 0
        )
        assert (
            r.variant == f"vggish-google:{models['vggish']}"
            and "6 of 6 frames" in r.settings["summary"]
        )
        assert r.software["torch"] and r.software["numpy"]
    assert MetricResult.objects.filter(metric="kad", scope="condition").count() == 2

    # the same numbers as the core on the same audio
    embedder = get_embedder(f"vggish:{models['vggish']}")
    by_cond: dict[str, list] = {}
    for t in tracks:
        by_cond.setdefault(t.condition.name, []).append(t)
    ref = embed_clips(
        embedder, {t.clip.key: load_audio(t.clip.original_audio.path) for t in by_cond["msi"]}
    )
    sets = {
        c: embed_clips(embedder, {str(t.id): load_audio(raw_path(t)) for t in ts}).frames
        for c, ts in by_cond.items()
    }
    expected = fad_table(sets, reference=ref.frames, equal_n=False).set_index("condition")
    for r in fad:
        assert r.value == pytest.approx(expected.loc[r.condition.name, "fad"], rel=1e-6)

    kl_clip = MetricResult.objects.filter(metric="kld", scope="clip_condition")
    assert kl_clip.count() == 4 and set(kl_clip.values_list("n_unit", flat=True)) == {"segments"}
    t = by_cond["msi"][0]
    ref_audio, ref_rate = load_audio(t.clip.original_audio.path)
    gen_audio, gen_rate = load_audio(raw_path(t))
    want = kl_audiocraft_clips(
        [
            ClipPair(
                clip="x",
                reference=ref_audio,
                generated=gen_audio,
                sample_rate=gen_rate,
                reference_sample_rate=ref_rate,
            )
        ],
        tagger=get_tagger(f"ast:{models['ast']}"),
    )
    assert kl_clip.get(track=t).value == pytest.approx(want["kld"][0], rel=1e-6)
    kl_cond = MetricResult.objects.get(metric="kld", scope="condition", condition__name="msi")
    assert kl_cond.n == 2 and kl_cond.settings["definition"] == "audiocraft"
    assert kl_cond.variant == f"audiocraft/ast:{models['ast']}"
    assert {
        r.metric for r in MetricResult.objects.filter(scope="condition", condition__name="msi")
    } == {"fad", "kad", "kld", "kld_qp", "kld_both", "clap_score"}

    # CLAP: the track has no prompt of its own, so the clip's approved msi_pred caption is its text
    clap = MetricResult.objects.get(metric="clap_score", scope="clip_condition", track=t)
    caption = Caption.objects.get(clip=t.clip, kind="msi_pred")
    assert (
        clap.settings["prompt_source"] == f"clip caption {caption.id} (msi_pred)"
        and clap.n_unit == "windows"
    )
    want = clap_scores(
        [TextAudio(track="x", text=caption.text, audio=t.audio.path)], model=str(models["clap"])
    )
    assert clap.value == pytest.approx(want["clap_score"][0], abs=1e-5)
    per_cond = MetricResult.objects.get(
        metric="clap_score", scope="condition", condition__name="msi"
    )
    assert per_cond.n == 2 and per_cond.n_unit == "tracks" and per_cond.reference == "prompt"
    assert len(set(MetricResult.objects.values_list("run", flat=True))) == 1


def test_a_condition_as_reference_and_a_fixed_frame_count(small_study, models):
    out = run(
        "--study",
        "small",
        "--metrics",
        "fad",
        "--embedding",
        f"mert:{models['mert']}",
        "--reference",
        "msi",
        "--frames",
        "40",
        "--seed",
        "3",
        "--no-store",
    )
    assert "nothing stored" in out and not MetricResult.objects.exists()
    run(
        "--study",
        "small",
        "--metrics",
        "fad",
        "--embedding",
        f"mert:{models['mert']}",
        "--reference",
        "msi",
        "--frames",
        "40",
        "--seed",
        "3",
    )
    rows = MetricResult.objects.filter(metric="fad")
    assert [r.condition.name for r in rows] == [
        "video_caps"
    ]  # the reference condition is not evaluated
    r = rows.get()
    assert (
        r.reference == "msi"
        and r.n == 40
        and r.settings["seed"] == 3
        and r.settings["n_available"] > 40
    )
    with pytest.raises(CommandError, match="cannot draw 100000 frames"):
        run(
            "--study",
            "small",
            "--metrics",
            "fad",
            "--embedding",
            f"mert:{models['mert']}",
            "--frames",
            "100000",
        )
    out = run(
        "--study",
        "small",
        "--metrics",
        "fad",
        "--embedding",
        f"mert:{models['mert']}",
        "--fad-inf",
        "--no-store",
    )  # tiny MERT gives 300 frames a second: enough for FAD-inf's 500-frame minimum
    assert "fad_inf" in out


BAD_INPUT = [
    (["--study", "nope", "--metrics", "kl"], "no study with slug 'nope'"),
    (["--study", "small", "--metrics", "fid"], "unknown metric"),
    (["--study", "small", "--metrics", "fad"], "FAD needs an embedding"),
    (
        ["--study", "small", "--metrics", "fad", "--embedding", "openl3"],
        "unknown embedding 'openl3'",
    ),
    (
        ["--study", "small", "--metrics", "kl", "--reference", "fusion"],
        "unknown reference 'fusion'.*msi, video_caps",
    ),
    (
        ["--study", "small", "--metrics", "fad", "--embedding", "vggish"],
        "needs the path of its weights",
    ),
    (
        ["--study", "small", "--metrics", "fad", "--embedding", "vggish:/nonexistent/vggish.pth"],
        "/nonexistent/vggish.pth",
    ),
    (
        ["--study", "small", "--metrics", "clap", "--clap-model", "/nonexistent/clap-model"],
        "/nonexistent/clap-model",
    ),
    (
        ["--study", "small", "--metrics", "kl", "--tagger", "ast:/nonexistent/ast-model"],
        "/nonexistent/ast-model",
    ),
    (["--study", "small", "--metrics", "kl", "--tagger", "panns"], "unknown classifier 'panns'"),
    (
        ["--study", "small", "--metrics", "kl", "--tagger", "passt:/nonexistent/passt.pt"],
        "hear21passt|passt.pt",
    ),
]


def test_bad_input_is_a_command_error_naming_it(small_study):
    for args, message in BAD_INPUT:  # one study for all cases: building it is the slow part
        with pytest.raises(CommandError, match=message):
            run(*args)
    assert not MetricResult.objects.exists()


def test_a_study_without_tracks_is_refused(db):
    from survey.models import Study

    Study.objects.create(title="Empty", slug="empty")
    with pytest.raises(CommandError, match="no tracks bound"):
        run("--study", "empty", "--metrics", "kl")


def test_clips_without_original_audio_are_reported_and_left_out(small_study, models):
    tracks = study_tracks(study=small_study)
    gone = tracks[0].clip
    type(gone).objects.filter(pk=gone.pk).update(original_audio="")
    out = run("--study", "small", "--metrics", "kl", "--tagger", f"ast:{models['ast']}")
    assert "clips without original audio" in out and gone.key in out
    kl = MetricResult.objects.filter(metric="kld", scope="clip_condition")
    assert kl.count() == 2 and not kl.filter(clip=gone).exists()
    assert np.isfinite(list(kl.values_list("value", flat=True))).all()

    run(
        "--study",
        "small",
        "--metrics",
        "kl",
        "--tagger",
        f"ast:{models['ast']}",
        "--kl-definition",
        "stable-audio",
    )
    stable = MetricResult.objects.filter(metric="kld", variant=f"stable-audio/ast:{models['ast']}")
    assert stable.filter(scope="clip_condition").count() == 2
    assert set(stable.filter(scope="condition").values_list("n", flat=True)) == {
        1
    }  # one distribution per file


def test_tracks_keep_the_generators_raw_output_beside_the_listening_copy(small_study):
    from analysis.metrics.audio import load_audio
    from tests.conftest import make_tone

    t = study_tracks(study=small_study)[0]
    raw, rate = load_audio(raw_path(t))
    want = make_tone(2.0, freq=float(t.parameters["freq"]) + 50 * t.seed)
    assert rate == t.sample_rate == 32000
    assert np.allclose(raw, want, atol=1e-6)  # float WAV: the samples before normalisation
    heard, _ = load_audio(t.audio.path)
    assert abs(20 * np.log10(np.std(heard) / np.std(raw)) - t.gain_db) < 1.0  # the other copy


def test_fad_and_kl_use_raw_audio_all_frames_and_name_the_classifier(small_study, models):
    from analysis.metric_results import audio_metrics_run
    from generation import services
    from generation.services import track_raw_audio_name
    from survey.models import TrialTrack
    from tests.conftest import make_tone

    # one msi track twice as long: msi now has more frames than video_caps
    tt = TrialTrack.objects.filter(track__condition__name="msi").first()
    tt.track = services.track_create(
        clip=tt.track.clip,
        condition=tt.track.condition,
        samples=make_tone(4.0, freq=500.0),
        sample_rate=32000,
        generator="test-tone",
        model_id="tone",
        seed=9,
        parameters={"freq": 500.0},
        loudness_target_lufs=-23.0,
    )
    tt.save()
    tracks = study_tracks(study=small_study)
    res = audio_metrics_run(
        study=small_study,
        metrics=["fad", "kl"],
        embedding=f"mert:{models['mert']}",
        tagger=f"ast:{models['ast']}",
        store=False,
    )
    table = res.table.set_index("condition")
    assert (table["fad_frames"] == table["fad_frames_available"]).all()  # all frames by default
    assert table.loc["msi", "fad_frames"] > table.loc["video_caps", "fad_frames"]
    assert res.settings["fad_frames"] == "all" and res.settings["audio_source"] == "raw"
    assert res.settings["audio_used"] == f"{len(tracks)} raw, 0 listening copy"
    assert res.settings["kl_classifier"] == f"ast:{models['ast']}"
    eq = audio_metrics_run(
        study=small_study,
        metrics=["fad"],
        embedding=f"mert:{models['mert']}",
        equal_frames=True,
        store=False,
    ).table
    assert eq["fad_frames"].nunique() == 1 and res.settings["fad_frames"] == "all"

    # the listening copy gives other numbers: the raw output is what was measured
    heard = audio_metrics_run(
        study=small_study,
        metrics=["fad"],
        embedding=f"mert:{models['mert']}",
        audio_source="listening",
        store=False,
    ).table.set_index("condition")
    assert not np.allclose(heard["fad"], table["fad"])

    # a track without a raw copy (made before they were kept) falls back, and says so
    t = tracks[0]
    t.audio.storage.delete(track_raw_audio_name(t))
    res = audio_metrics_run(
        study=small_study, metrics=["fad"], embedding=f"mert:{models['mert']}", store=False
    )
    assert res.settings["audio_used"] == f"{len(tracks) - 1} raw, 1 listening copy"
    assert any("no raw output kept" in s for s in res.skipped)


def test_auto_classifier_is_passt_only_where_it_can_run(monkeypatch, tmp_path):
    import importlib.util

    from analysis.metric_results import resolve_tagger_spec

    assert resolve_tagger_spec("ast:/x") == ("ast:/x", "")
    spec, note = resolve_tagger_spec("auto")
    if importlib.util.find_spec("hear21passt") is None:
        assert spec == "ast" and "hear21passt package is not installed" in note
    checkpoint = tmp_path / "passt-s-f128-p16-s10-ap.476-swa.pt"
    checkpoint.write_bytes(b"weights")
    monkeypatch.setenv("MUSISCENE_PASST_CHECKPOINT", str(checkpoint))
    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "hear21passt" else real_find(name, *a),
    )
    assert resolve_tagger_spec("auto") == (f"passt:{checkpoint}", "PaSST, as in the paper (auto)")
    monkeypatch.delenv("MUSISCENE_PASST_CHECKPOINT")
    spec, note = resolve_tagger_spec("auto")
    assert spec == "ast" and "MUSISCENE_PASST_CHECKPOINT" in note
