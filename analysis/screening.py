"""Post-screening of listening-study ratings: each rule a setting, every exclusion logged.

Rules (research/C_metrics.md 4.1 and 4.3: MUSHRA post-screening, ITU-T P.808's acceptance
checks), applied in this order:

Participant rules, each judged on the unscreened data (so the log lists every rule a
participant broke, not only the first):

- ``incomplete``: the participants table says the status is not ``completed``.
- ``attention``: more than ``max_attention_failures`` failed attention/catch trials.
- ``headphone``: the headphone check failed (a missing result is not a failure).
- ``impossible_timing``: the participants table's ``timing_flag`` says the participant's pace is
  not humanly possible (answers faster than the audio to hear, more listening than time).
- ``flat``: the SD of the participant's ratings is below ``flat_sd_below`` (P.808's minimum
  rating variance; catches raters who leave the slider in one place).
- ``too_fast``: more than ``max_fast_fraction`` of the participant's trials were too fast.
- ``reference`` / ``anchor``: more than ``max_reference_fail_fraction`` of the trials rate a
  hidden-reference condition below ``reference_min`` or an anchor condition above
  ``anchor_max`` (the MUSHRA rule: 90 and 15%), when such conditions are named.

Rating rules, on the participants that remain:

- ``fast_trial``: ratings of a trial whose ``trial_duration_s`` is below
  ``min_trial_duration_s`` are dropped.
- ``outlier_z``: ratings with ``|z| > outlier_z`` within their condition (or stimulus) and
  form are dropped (P.808's optional rule, usually 3.29). Off by default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analysis.stats import _require_columns

logger = logging.getLogger(__name__)

__all__ = ["ScreeningResult", "ScreeningSettings", "screen"]

LOG_COLUMNS = ["form", "participant", "level", "rule", "clip", "condition", "n_ratings", "detail"]


@dataclass(frozen=True)
class ScreeningSettings:
    """Which post-screening rules run and their thresholds (``None`` switches a rule off)."""

    require_completed: bool = True
    max_attention_failures: int | None = 0
    headphone: bool = True
    impossible_timing: bool = True
    flat_sd_below: float | None = 5.0
    min_trial_duration_s: float | None = 3.0
    max_fast_fraction: float | None = 0.5
    outlier_z: float | None = None
    outlier_scope: Literal["condition", "stimulus"] = "condition"
    reference_conditions: Sequence[str] = ()
    reference_min: float = 90.0
    anchor_conditions: Sequence[str] = ()
    anchor_max: float = 10.0
    max_reference_fail_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.outlier_scope not in ("condition", "stimulus"):
            raise ValueError("outlier_scope must be 'condition' or 'stimulus'")
        if self.flat_sd_below is not None and self.flat_sd_below < 0:
            raise ValueError("flat_sd_below must be >= 0")
        if self.max_fast_fraction is not None and not 0 <= self.max_fast_fraction <= 1:
            raise ValueError("max_fast_fraction must lie in [0, 1]")

    def as_dict(self) -> dict[str, object]:
        """Plain values for reports and JSON."""
        d = asdict(self)
        d["reference_conditions"] = list(self.reference_conditions)
        d["anchor_conditions"] = list(self.anchor_conditions)
        return d


@dataclass
class ScreeningResult:
    """Kept ratings (attention trials removed), kept participants and the exclusion log.

    ``log`` has one row per (participant, rule) for participant rules and one row per
    (participant, rule, clip, condition) group for rating rules, with columns
    ``form, participant, level, rule, clip, condition, n_ratings, detail``.
    """

    ratings: pd.DataFrame
    participants: pd.DataFrame | None
    log: pd.DataFrame
    settings: ScreeningSettings
    excluded_participants: list[object] = field(default_factory=list)  # participant ids

    def summary(self) -> pd.DataFrame:
        """Per form and rule: participants excluded and ratings dropped."""
        if self.log.empty:
            return pd.DataFrame(columns=["form", "rule", "level", "n_participants", "n_ratings"])
        g = self.log.groupby(["form", "rule", "level"], sort=True, dropna=False)
        return g.agg(
            n_participants=("participant", "nunique"), n_ratings=("n_ratings", "sum")
        ).reset_index()


def screen(
    ratings: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    *,
    settings: ScreeningSettings = ScreeningSettings(),
    dv: str = "value",
) -> ScreeningResult:
    """Apply the post-screening rules; see the module docstring for each rule's definition.

    ``ratings`` follows the export contract (``form, participant, clip, condition, value,
    trial_order, is_attention, attention_passed, headphone_passed, trial_duration_s``; a
    column that is absent switches its rule off with a log message). Returns the kept
    analysis ratings (attention trials removed), the kept participants and the log.

    >>> from analysis.simulate import simulate_study
    >>> s = simulate_study(seed=3)
    >>> res = screen(s.ratings, s.participants)
    >>> sorted(res.log["rule"].unique())
    ['attention', 'flat', 'headphone', 'too_fast']
    """
    _require_columns(ratings, ["participant", dv])
    r = ratings.copy()
    if "form" not in r.columns:
        r["form"] = ""
    is_att = (
        r["is_attention"].fillna(False).astype(bool).to_numpy()
        if "is_attention" in r.columns
        else np.zeros(len(r), bool)
    )
    att = r.loc[is_att]
    main = r.loc[~is_att & r[dv].notna().to_numpy()].copy()
    form_of = main.groupby("participant", sort=False)["form"].first().to_dict()
    form_of.update(
        {
            p: f
            for p, f in r.groupby("participant", sort=False)["form"].first().items()
            if p not in form_of
        }
    )
    per_rating = main.groupby("participant", sort=False)[dv].size()
    logs: list[dict[str, object]] = []

    def flag(p: object, rule: str, detail: str) -> None:
        logs.append(
            {
                "form": form_of.get(p, ""),
                "participant": p,
                "level": "participant",
                "rule": rule,
                "clip": pd.NA,
                "condition": pd.NA,
                "n_ratings": int(per_rating.get(p, 0)),
                "detail": detail,
            }
        )

    s = settings
    if s.require_completed and participants is not None and "status" in participants.columns:
        for _, row in participants.loc[participants["status"] != "completed"].iterrows():
            if row["participant"] not in form_of:
                form_of[row["participant"]] = row.get("form", "")
            flag(row["participant"], "incomplete", f"status {row['status']}")
    if s.max_attention_failures is not None and len(att) and "attention_passed" in att.columns:
        failed = att.loc[att["attention_passed"].eq(False).fillna(False).astype(bool)]
        counts = failed.groupby("participant").size()
        total = att.groupby("participant").size()
        for p, c in counts.items():
            if c > s.max_attention_failures:
                flag(p, "attention", f"failed {c} of {int(total[p])} attention checks")
    if s.headphone:
        hp = None
        if "headphone_passed" in r.columns:
            hp = r.groupby("participant")["headphone_passed"].agg(
                lambda x: bool((x.astype("boolean") == False).any())  # noqa: E712
            )
        elif participants is not None and "headphone_passed" in participants.columns:
            hp = (
                participants.set_index("participant")["headphone_passed"]
                .astype("boolean")
                .eq(False)
                .fillna(False)
            )
        if hp is not None:
            for p in hp.index[hp.to_numpy(bool)]:
                flag(p, "headphone", "failed the headphone check")
    if s.impossible_timing and participants is not None and "timing_flag" in participants.columns:
        flagged = participants.loc[participants["timing_flag"].fillna("").astype(str) != ""]
        for _, row in flagged.iterrows():
            if row["participant"] not in form_of:
                form_of[row["participant"]] = row.get("form", "")
            flag(row["participant"], "impossible_timing", str(row["timing_flag"]))
    if s.flat_sd_below is not None:
        sd = main.groupby("participant")[dv].std(ddof=1)
        for p, v in sd.items():
            if pd.notna(v) and v < s.flat_sd_below:
                flag(p, "flat", f"SD of ratings {v:.2f} < {s.flat_sd_below:g}")
    fast_rows = np.zeros(len(main), bool)
    if s.min_trial_duration_s is not None and "trial_duration_s" in main.columns:
        fast_rows = (main["trial_duration_s"] < s.min_trial_duration_s).fillna(False).to_numpy(bool)
        if s.max_fast_fraction is not None:
            key = "trial_order" if "trial_order" in main.columns else "clip"
            trials = main.assign(_fast=fast_rows).groupby(["participant", key])["_fast"].any()
            frac = trials.groupby(level=0).mean()
            for p, v in frac.items():
                if v > s.max_fast_fraction:
                    flag(p, "too_fast", f"{v:.0%} of trials under {s.min_trial_duration_s:g} s")
    # (rule, conditions, which ratings fail, how the log says it)
    cond_fail: list[tuple[str, list[object], Callable[[pd.Series], pd.Series], str]] = []
    if s.reference_conditions:
        cond_fail.append(
            (
                "reference",
                list(s.reference_conditions),
                lambda v: v < s.reference_min,
                f"below {s.reference_min:g}",
            )
        )
    if s.anchor_conditions:
        cond_fail.append(
            (
                "anchor",
                list(s.anchor_conditions),
                lambda v: v > s.anchor_max,
                f"above {s.anchor_max:g}",
            )
        )
    for rule, conds, bad, text in cond_fail:
        sub = main.loc[main["condition"].isin(conds)]
        frac = sub.assign(_bad=bad(sub[dv])).groupby("participant")["_bad"].mean()
        for p, v in frac.items():
            if v > s.max_reference_fail_fraction:
                flag(p, rule, f"{v:.0%} of {rule} ratings {text}")

    excluded = sorted({e["participant"] for e in logs}, key=str)
    keep = ~main["participant"].isin(excluded).to_numpy()
    # rating rules
    drop = np.zeros(len(main), bool)
    if fast_rows.any():
        hit = fast_rows & keep
        drop |= hit
        _log_rating_rule(
            logs, main.loc[hit], "fast_trial", f"trial shorter than {s.min_trial_duration_s:g} s"
        )
    if s.outlier_z is not None:
        scope = ["form", "condition"] + (["clip"] if s.outlier_scope == "stimulus" else [])
        live = main.loc[keep & ~drop]
        grp = live.groupby(scope, sort=False)[dv]
        mean, sd, n = grp.transform("mean"), grp.transform("std"), grp.transform("size")
        z = (live[dv] - mean) / sd
        out = ((z.abs() > s.outlier_z) & (n >= 3) & (sd > 0)).fillna(False).to_numpy(bool)
        idx = live.index[out]
        drop |= main.index.isin(idx)
        _log_rating_rule(
            logs, main.loc[idx], "outlier_z", f"|z| > {s.outlier_z:g} within {s.outlier_scope}"
        )
    kept = main.loc[keep & ~drop]
    log = pd.DataFrame(logs, columns=LOG_COLUMNS)
    kept_people = None
    if participants is not None:
        kept_people = participants.loc[~participants["participant"].isin(excluded)].copy()
    logger.info(
        "screening: %d participant(s) excluded, %d rating(s) dropped",
        len(excluded),
        int((keep & drop).sum()),
    )
    return ScreeningResult(
        ratings=kept,
        participants=kept_people,
        log=log,
        settings=settings,
        excluded_participants=excluded,
    )


def _log_rating_rule(
    logs: list[dict[str, object]], rows: pd.DataFrame, rule: str, detail: str
) -> None:
    if rows.empty:
        return
    cols = ["form", "participant", "clip", "condition"]
    for key, n in rows.groupby(cols, sort=True, dropna=False).size().items():
        form, p, clip, cond = key
        logs.append(
            {
                "form": form,
                "participant": p,
                "level": "rating",
                "rule": rule,
                "clip": clip,
                "condition": cond,
                "n_ratings": int(n),
                "detail": detail,
            }
        )
