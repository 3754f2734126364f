"""metrics_table: stored results per metric x condition and their correlation with the ratings,
checked against scipy on the same numbers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.db.models import F
from scipy import stats

from analysis.metrics_table import METRICS_TABLE_COLUMNS, correlation, metrics_table
from analysis.models import MetricResult
from generation.models import Clip
from survey import services
from survey.models import Participant, Rating, Study

pytestmark = pytest.mark.django_db

CONDS = ("video_caps", "music_caps", "msi")
KL = {"video_caps": 2.3, "music_caps": 2.1, "msi": 1.9, "fusion": 2.0}  # condition-level values


@pytest.fixture
def rated_study(alice, conditions, make_clip, clone_track):
    """6 clips x 3 conditions, 4 participants who rated every track with a known pattern."""
    clips = [make_clip(f"rc-{i}") for i in range(6)]
    for clip in clips:
        for name in CONDS:
            clone_track(clip, conditions[name])
    study = Study.objects.create(title="Rated", slug="rated")
    form = services.form_create(
        study=study, name="f1", n_videos=6, conditions=[conditions[c] for c in CONDS]
    )
    services.form_sample_trials(form=form, seed=1)
    rng = np.random.default_rng(5)
    ratings = []
    for _ in range(4):
        participant = Participant.objects.create(
            study=study, form=form, status=Participant.Status.COMPLETED
        )
        for order, trial in enumerate(form.trials.order_by("position")):
            for pos, tt in enumerate(
                trial.trial_tracks.select_related("condition").order_by("condition__name")
            ):
                value = float(
                    np.clip(40 + 10 * CONDS.index(tt.condition.name) + rng.normal(0, 15), 0, 100)
                )
                ratings.append(
                    Rating(
                        participant=participant,
                        trial=trial,
                        track=tt.track,
                        value=round(value, 1),
                        position=pos,
                        trial_order=order,
                        submission_id=uuid.uuid4(),
                    )
                )
    Rating.objects.bulk_create(ratings)
    return study


def _store(study, conditions, *, run=None, shift=0.0, at=None):
    """KL per condition and per clip, FAD per condition, caption ROUGE-L per kind and per clip."""
    run = run or uuid.uuid4()
    rows = []
    clips = list(Clip.objects.filter(trials__form__study=study).distinct().order_by("key"))
    common = {"run": run, "study": study, "kind": "audio", "software": {"numpy": "x"}}
    for i, name in enumerate(CONDS):
        cond = conditions[name]
        rows.append(
            MetricResult(
                metric="kld",
                variant="audiocraft/ast",
                reference="original",
                scope="condition",
                condition=cond,
                value=KL[name] + shift,
                n=12,
                n_unit="segments",
                settings={"summary": "audiocraft KL, ast"},
                **common,
            )
        )
        rows.append(
            MetricResult(
                metric="fad",
                variant="vggish-google",
                reference="original",
                scope="condition",
                condition=cond,
                value=5.0 + i,
                n=60,
                n_unit="frames",
                settings={"summary": "60 of 60 frames"},
                **common,
            )
        )
        for j, clip in enumerate(clips):
            rows.append(
                MetricResult(
                    metric="kld",
                    variant="audiocraft/ast",
                    reference="original",
                    scope="clip_condition",
                    condition=cond,
                    clip=clip,
                    value=1.5 + 0.1 * j + 0.3 * i,
                    n=1,
                    n_unit="segments",
                    **common,
                )
            )
    cap = {
        "run": run,
        "study": None,
        "kind": "caption",
        "variant": "mu-llama",
        "reference": "music",
        "metric": "rouge_l",
        "software": {},
    }
    for kind, value in (
        ("video", 0.2),
        ("msi_pred", 0.5),
        ("fusion", 0.4),
        ("msi@musiscene", 0.6),
    ):
        rows.append(
            MetricResult(
                scope="caption_kind",
                candidate=kind,
                value=value,
                n=len(clips),
                n_unit="pairs",
                settings={"summary": "mu-llama"},
                **cap,
            )
        )
        if "@" not in kind:
            for j, clip in enumerate(clips):
                rows.append(
                    MetricResult(
                        scope="clip_caption_kind",
                        candidate=kind,
                        clip=clip,
                        value=value + 0.05 * ((j * 7) % 5),
                        n=1,
                        n_unit="pairs",
                        **cap,
                    )
                )
    MetricResult.objects.bulk_create(rows)
    if at is not None:
        MetricResult.objects.filter(run=run).update(created_at=at)
    return run


def _ratings(study):
    return pd.DataFrame(
        Rating.objects.filter(participant__study=study).values(
            "value", clip=F("trial__clip__key"), condition=F("track__condition__name")
        )
    )


def test_it_is_none_when_nothing_is_stored(small_study):
    assert metrics_table(small_study) is None


def test_rows_per_metric_and_condition_with_correlations_as_scipy_computes_them(
    rated_study, conditions
):
    _store(rated_study, conditions)
    table = metrics_table(rated_study)
    assert list(table.columns) == METRICS_TABLE_COLUMNS
    ratings = _ratings(rated_study)
    cond_mean = ratings.groupby("condition")["value"].mean()
    cell_mean = ratings.groupby(["clip", "condition"])["value"].mean()

    kl = table[table.metric == "kld"].set_index("condition")
    assert sorted(kl.index) == sorted(CONDS)
    assert kl.loc["msi", "value"] == pytest.approx(1.9) and kl.loc["msi", "n"] == 12
    assert (
        kl.loc["msi", "n_unit"] == "segments" and kl.loc["msi", "settings"] == "audiocraft KL, ast"
    )
    assert kl.loc["msi", "rating_mean"] == pytest.approx(cond_mean["msi"])
    assert kl.loc["msi", "rating_n"] == 4 * 6

    # by condition: 3 points; r and p as scipy, no interval (needs n >= 4)
    x = [KL[c] for c in CONDS]
    y = [cond_mean[c] for c in CONDS]
    row = kl.loc["video_caps"]
    assert row["by_condition_n"] == 3
    assert row["by_condition_pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert row["by_condition_spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert np.isnan(row["by_condition_pearson_low"])

    # by clip: 18 clip x condition cells
    clip_keys = sorted({k for k, _ in cell_mean.index})
    xs, ys = [], []
    for i, c in enumerate(CONDS):
        for j, key in enumerate(clip_keys):
            xs.append(1.5 + 0.1 * j + 0.3 * i)
            ys.append(cell_mean[(key, c)])
    pr, sr = stats.pearsonr(xs, ys), stats.spearmanr(xs, ys)
    ci = pr.confidence_interval(0.95)
    assert row["by_clip_n"] == 18
    assert row["by_clip_pearson_r"] == pytest.approx(pr.statistic)
    assert row["by_clip_pearson_p"] == pytest.approx(pr.pvalue)
    assert (row["by_clip_pearson_low"], row["by_clip_pearson_high"]) == pytest.approx(
        (ci.low, ci.high)
    )
    assert row["by_clip_spearman_rho"] == pytest.approx(sr.statistic)
    assert row["by_clip_spearman_p"] == pytest.approx(sr.pvalue)
    se = np.sqrt((1 + sr.statistic**2 / 2) / 15)  # Bonett-Wright
    z = stats.norm.ppf(0.975)
    assert row["by_clip_spearman_low"] == pytest.approx(np.tanh(np.arctanh(sr.statistic) - z * se))
    assert row["by_clip_spearman_high"] == pytest.approx(np.tanh(np.arctanh(sr.statistic) + z * se))
    assert "Bonett-Wright" in row["correlation_method"]
    # every row of one metric carries the same correlations
    assert kl["by_clip_pearson_r"].nunique() == 1

    fad = table[table.metric == "fad"]
    assert len(fad) == 3 and (fad["by_clip_n"] == 0).all() and fad["by_clip_pearson_r"].isna().all()
    assert fad["by_condition_n"].eq(3).all()


def test_caption_metrics_link_to_the_conditions_of_their_kind(rated_study, conditions):
    _store(rated_study, conditions)
    table = metrics_table(rated_study)
    rouge = table[table.metric == "rouge_l"]
    assert set(rouge["evaluated_on"]) == {"all clips"}
    linked = rouge.set_index("candidate")
    assert (
        linked.loc["video", "condition"] == "video_caps"
        and linked.loc["msi_pred", "condition"] == "msi"
    )
    # fusion is no condition of this study; msi@musiscene names one model: listed, not correlated
    assert (
        linked.loc["fusion", "condition"] == "" and linked.loc["msi@musiscene", "condition"] == ""
    )
    assert np.isnan(linked.loc["fusion", "rating_mean"])
    assert linked.loc["msi_pred", "by_condition_n"] == 2  # video_caps and msi
    ratings = _ratings(rated_study)
    cell_mean = ratings.groupby(["clip", "condition"])["value"].mean()
    keys = sorted({k for k, _ in cell_mean.index})
    xs = [base + 0.05 * ((j * 7) % 5) for base in (0.2, 0.5) for j in range(len(keys))]
    ys = [cell_mean[(k, c)] for c in ("video_caps", "msi") for k in keys]
    assert linked.loc["msi_pred", "by_clip_n"] == 12
    assert linked.loc["msi_pred", "by_clip_pearson_r"] == pytest.approx(
        stats.pearsonr(xs, ys).statistic
    )


def test_the_latest_run_of_each_metric_is_shown(rated_study, conditions):
    from django.utils import timezone

    old = _store(rated_study, conditions, shift=10.0, at=timezone.now() - timedelta(days=1))
    new = _store(rated_study, conditions)
    table = metrics_table(rated_study)
    assert table[table.metric == "kld"]["value"].max() < 3
    assert (
        MetricResult.objects.filter(run=old).exists()
        and MetricResult.objects.filter(run=new).exists()
    )
    assert len(table[table.metric == "kld"]) == 3


def test_given_ratings_replace_the_studys_own(rated_study, conditions):
    _store(rated_study, conditions)
    ratings = _ratings(rated_study)
    screened = ratings.assign(value=np.where(ratings["condition"] == "msi", 100.0, 0.0))
    table = metrics_table(rated_study, ratings=screened)
    kl = table[table.metric == "kld"].set_index("condition")
    assert kl.loc["msi", "rating_mean"] == 100.0 and kl.loc["video_caps", "rating_mean"] == 0.0


def test_it_renders_in_the_analysis_report(rated_study, conditions):
    from analysis.report import build_report

    _store(rated_study, conditions)
    page = build_report(
        pd.DataFrame(columns=["form", "participant", "clip", "condition", "value"]),
        None,
        design={"study": "rated"},
        provenance=[],
        metrics=metrics_table(rated_study),
    )
    assert "Objective metrics" in page and "by_clip_pearson_r" in page and "audiocraft/ast" in page


def test_correlation_edge_cases():
    assert correlation([1, 2], [2, 1])["n"] == 2 and np.isnan(
        correlation([1, 2], [2, 1])["pearson_r"]
    )
    flat = correlation([1, 1, 1, 1], [1, 2, 3, 4])
    assert flat["n"] == 4 and np.isnan(flat["pearson_r"]) and np.isnan(flat["spearman_rho"])
    three = correlation([1, 2, 3], [1, 3, 2])
    assert three["pearson_r"] == pytest.approx(0.5) and np.isnan(three["pearson_low"])
    perfect = correlation([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect["pearson_r"] == pytest.approx(1.0) and perfect["pearson_low"] == pytest.approx(
        1.0
    )
    missing = correlation([1, 2, np.nan, 4, 5, 6], [1, 3, 2, np.nan, 5, 4])
    assert missing["n"] == 4
    with pytest.raises(ValueError, match="differ"):
        correlation([1, 2, 3], [1, 2])
