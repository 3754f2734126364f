"""The HTML report, the CSV bundle, the paper's tables and the simulator's contract."""

import io
import re
import zipfile

import pandas as pd
import pytest

from analysis.report import AnalysisSettings, analyze, build_report, write_csv_bundle
from analysis.simulate import PAPER_FORMS, RatingModel, simulate_study
from analysis.stats import paper_tables

SETTINGS = AnalysisSettings(n_boot=300)
RATING_COLUMNS = [
    "study",
    "form",
    "participant",
    "prolific_pid",
    "study_id",
    "session_id",
    "clip",
    "condition",
    "track",
    "value",
    "position",
    "trial_order",
    "listening_s",
    "started_at",
    "submitted_at",
    "is_attention",
    "attention_passed",
    "headphone_passed",
    "trial_duration_s",
    "language",
]
PARTICIPANT_COLUMNS = [
    "study",
    "form",
    "participant",
    "status",
    "started_at",
    "completed_at",
    "age_range",
    "device",
    "music_training",
    "headphone_passed",
]


@pytest.fixture(scope="module")
def study():
    return simulate_study(seed=11)


@pytest.fixture(scope="module")
def page(study):
    metrics = pd.DataFrame(
        {
            "condition": ["msi", "fusion"],
            "metric": ["FAD", "FAD"],
            "value": [5.78, 6.62],
            "n_frames": [150, 150],
        }
    )
    return build_report(
        study.ratings,
        study.participants,
        design={
            "study": "paper-replica",
            "conditions": {
                "form1": ["msi", "music_caption", "video_caption"],
                "form2": ["msi", "fusion"],
            },
        },
        provenance=[
            {
                "condition": "msi",
                "generator": "musicgen",
                "model": "facebook/musicgen-small",
                "parameters": {"top_k": 250, "guidance_scale": 3.0},
            }
        ],
        settings=SETTINGS,
        metrics=metrics,
    )


def test_the_simulator_follows_the_export_contract(study):
    assert list(study.ratings.columns) == RATING_COLUMNS
    assert list(study.participants.columns) == PARTICIPANT_COLUMNS
    r = study.ratings[~study.ratings["is_attention"]]
    assert r.groupby("form")["participant"].nunique().to_dict() == {"form1": 68, "form2": 50}
    assert r.groupby("participant").size().groupby(
        r.groupby("participant")["form"].first()
    ).first().to_dict() == {"form1": 45, "form2": 16}
    assert r["value"].between(0, 100).all()
    assert str(r["started_at"].dt.tz) == "UTC"
    again = simulate_study(seed=11)
    pd.testing.assert_frame_equal(study.ratings, again.ratings)


def test_paper_tables_have_the_papers_layout_and_recover_its_means():
    s = simulate_study(model=RatingModel(careless_fraction=0.0, sd_residual=6.0), seed=5)
    tables = paper_tables(s.ratings[~s.ratings["is_attention"]])
    assert list(tables) == ["form1", "form2"]
    t4 = tables["form1"]
    assert list(t4.columns) == ["msi", "music_caption", "video_caption"]  # 74.2, 73.5, 61.4
    assert list(t4.index) == ["mean"]
    truth = {**PAPER_FORMS[0].conditions}
    for cond, mu in truth.items():
        assert t4.loc["mean", cond] == pytest.approx(mu, abs=3.5)
    assert tables["form2"].loc["mean", "msi"] == pytest.approx(78.4, abs=3.5)


def test_the_report_is_one_offline_page_with_every_section(page):
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<script type='text/javascript'>") == 1  # plotly.js once
    assert "plotly.js v" in page or "Plotly" in page
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=['\"]https?:", page)
    for section in (
        "summary",
        "paper",
        "means",
        "tests",
        "mixed",
        "agreement",
        "unscreened",
        "exclusions",
        "metrics",
        "design",
        "provenance",
        "settings",
        "software",
    ):
        assert f"<section id='{section}'>" in page
    assert page.count('class="plotly-graph-div"') >= 8  # 4 figures per form
    assert "facebook/musicgen-small" in page and "guidance_scale" in page
    assert "Kendall" in page and "Krippendorff alpha (interval)" in page
    assert "statsmodels" in page and "n_boot" in page
    # the mixed model names the structure it fitted; the rank tests come over clips too
    assert (
        "Fitted model: value ~ condition + (1|participant) + (1|participant:condition) + "
        "(1|clip) + (1|clip:condition)" in page
    )
    assert "Pairwise Wilcoxon signed-rank tests over clips" in page
    assert "Friedman test on clip condition means" in page
    assert "treat the clips as fixed" in page


def test_the_csv_bundle_holds_every_table_for_r_and_pandas(study):
    a = analyze(study.ratings, study.participants, settings=SETTINGS)
    buf = io.BytesIO()
    names = write_csv_bundle(a, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        assert set(zf.namelist()) == set(names)
        for required in (
            "describe_screened.csv",
            "describe_unscreened.csv",
            "exclusion_log.csv",
            "pairwise_wilcoxon_screened.csv",
            "mixed_means_screened.csv",
            "friedman_screened.csv",
            "friedman_by_clip_screened.csv",
            "pairwise_wilcoxon_by_clip_screened.csv",
            "mixed_fit_screened.csv",
            "agreement_screened.csv",
            "paper_tables_screened.csv",
            "settings.json",
        ):
            assert required in names
        d = pd.read_csv(zf.open("describe_screened.csv"))
        assert {"form", "condition", "mean", "t_low", "boot_high"} <= set(d.columns)
        assert len(d) == 5
        log = pd.read_csv(zf.open("exclusion_log.csv"))
        assert set(log["participant"]) >= set(a.screening.excluded_participants)


def test_results_exist_with_and_without_exclusions(study):
    a = analyze(study.ratings, study.participants, settings=SETTINGS)
    assert a.screening.excluded_participants
    for form in ("form1", "form2"):
        assert a.unscreened[form].n_participants > a.screened[form].n_participants
        assert a.screened[form].mixed is not None and a.unscreened[form].mixed is not None


def test_a_form_that_screening_empties_says_so_with_its_count(study):
    """Every participant excluded: the form has ratings, screening removed them (it said 'no
    ratings in this form')."""
    from analysis.screening import ScreeningSettings

    everyone_flat = ScreeningSettings(flat_sd_below=1000.0)  # no rater's SD is that high
    a = analyze(
        study.ratings,
        study.participants,
        settings=AnalysisSettings(n_boot=50, screening=everyone_flat),
    )
    n = a.unscreened["form1"].n_ratings
    assert n > 0 and a.screened["form1"].n_ratings == 0
    said = a.screened["form1"].messages["all"]
    assert said.startswith(f"screening excluded all {n:,} ratings of this form"), said
    assert "no ratings" not in said
