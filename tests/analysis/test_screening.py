"""Each post-screening rule, the exclusion log, and catching simulated careless raters."""

import numpy as np
import pandas as pd

from analysis.screening import ScreeningSettings, screen
from analysis.simulate import RatingModel, simulate_study


def _table() -> pd.DataFrame:
    rows = []
    values = {
        "good": [20, 80, 40, 60],
        "flat": [50, 51, 50, 50],
        "inattentive": [10, 90, 30, 70],
        "deaf": [15, 85, 45, 65],
        "hasty": [25, 75, 35, 65],
    }
    for p, vals in values.items():
        for t, v in enumerate(vals):
            rows.append(
                {
                    "form": "f",
                    "participant": p,
                    "clip": f"c{t // 2}",
                    "condition": "ab"[t % 2],
                    "value": float(v),
                    "trial_order": t // 2,
                    "is_attention": False,
                    "attention_passed": pd.NA,
                    "headphone_passed": p != "deaf",
                    "trial_duration_s": 1.0 if p == "hasty" or (p == "good" and t == 0) else 20.0,
                }
            )
        rows.append(
            {
                "form": "f",
                "participant": p,
                "clip": "att",
                "condition": "attention",
                "value": 10.0,
                "trial_order": 9,
                "is_attention": True,
                "attention_passed": p != "inattentive",
                "headphone_passed": p != "deaf",
                "trial_duration_s": 5.0,
            }
        )
    return pd.DataFrame(rows)


def test_each_participant_rule_excludes_and_logs_its_participant():
    res = screen(_table(), settings=ScreeningSettings())
    by_rule = res.log.groupby("rule")["participant"].apply(set).to_dict()
    assert by_rule["flat"] == {"flat"}
    assert by_rule["attention"] == {"inattentive"}
    assert by_rule["headphone"] == {"deaf"}
    assert by_rule["too_fast"] == {"hasty"}
    assert res.excluded_participants == ["deaf", "flat", "hasty", "inattentive"]
    assert set(res.ratings["participant"]) == {"good"}
    assert not res.ratings["is_attention"].any()


def test_a_too_fast_trial_drops_only_its_ratings():
    res = screen(_table(), settings=ScreeningSettings())
    fast = res.log[res.log["rule"] == "fast_trial"]
    assert list(fast["participant"]) == ["good"] and fast["n_ratings"].sum() == 1
    assert len(res.ratings) == 3  # good's 4 ratings minus the fast one
    summary = res.summary().set_index("rule")
    assert summary.loc["fast_trial", "n_ratings"] == 1


def test_rules_switch_off_and_the_log_names_every_rule_broken():
    off = ScreeningSettings(
        max_attention_failures=None, headphone=False, flat_sd_below=None, min_trial_duration_s=None
    )
    res = screen(_table(), settings=off)
    assert res.log.empty and res.excluded_participants == []
    assert len(res.ratings) == 20
    t = _table()
    t.loc[t["participant"] == "flat", "headphone_passed"] = False
    both = screen(t).log
    assert set(both.loc[both["participant"] == "flat", "rule"]) == {"flat", "headphone"}


def test_incomplete_participants_and_outliers():
    t = _table()
    people = pd.DataFrame(
        {"participant": ["good", "hasty"], "status": ["completed", "abandoned"], "form": ["f", "f"]}
    )
    res = screen(
        t,
        people,
        settings=ScreeningSettings(
            max_attention_failures=None,
            headphone=False,
            flat_sd_below=None,
            min_trial_duration_s=None,
        ),
    )
    assert res.log.loc[res.log["rule"] == "incomplete", "participant"].tolist() == ["hasty"]
    assert res.participants["participant"].tolist() == ["good"]
    rng = np.random.default_rng(0)
    big = pd.DataFrame(
        {
            "form": "f",
            "participant": np.arange(200),
            "clip": "c",
            "condition": "a",
            "value": rng.normal(50, 5, 200),
        }
    )
    big.loc[7, "value"] = 100.0
    z = screen(big, settings=ScreeningSettings(outlier_z=3.29, flat_sd_below=None))
    assert z.log["rule"].tolist() == ["outlier_z"] and z.log["participant"].tolist() == [7]


def test_reference_rule_follows_mushra():
    rows = []
    for p, ref in (("keen", [95, 92, 99, 91]), ("sloppy", [95, 60, 70, 91])):
        for t, v in enumerate(ref):
            rows.append(
                {
                    "form": "f",
                    "participant": p,
                    "clip": f"c{t}",
                    "condition": "reference",
                    "value": float(v),
                }
            )
            rows.append(
                {
                    "form": "f",
                    "participant": p,
                    "clip": f"c{t}",
                    "condition": "x",
                    "value": 40.0 + t,
                }
            )
    res = screen(
        pd.DataFrame(rows),
        settings=ScreeningSettings(reference_conditions=["reference"], flat_sd_below=None),
    )
    assert res.excluded_participants == ["sloppy"]
    assert "50% of reference ratings below 90" in res.log["detail"].iloc[0]


def test_it_catches_most_simulated_careless_raters():
    s = simulate_study(model=RatingModel(careless_fraction=0.2), seed=7)
    res = screen(s.ratings, s.participants)
    careless = set(s.truth["careless"])
    caught = careless & set(res.excluded_participants)
    assert len(caught) >= 0.7 * len(careless)
    kinds = s.truth["careless"]
    assert all(p in res.excluded_participants for p, k in kinds.items() if k in ("flat", "fast"))
    assert len(set(res.excluded_participants) - careless) <= 0.12 * (118 - len(careless))
