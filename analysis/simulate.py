"""Simulated listening-study participants with a known truth.

The rating model (one rating of condition c on clip i by participant p):

    value = mu_c + b_p + g_i + h_ic + e,   b_p ~ N(0, sd_participant^2),
    g_i ~ N(0, sd_clip^2), h_ic ~ N(0, sd_clip_condition^2), e ~ N(0, sd_residual^2)

clipped to [0, 100] and rounded to ``decimals`` (a slider). Careless participants ignore the
stimulus: ``flat`` ones give nearly the same value every time, ``random`` ones a uniform value,
``fast`` ones a uniform value after far too little listening; careless participants also fail
attention checks more often. Everything is drawn from one seeded generator, so a seed gives
the same table on every machine.

:func:`simulate_study` returns the two long tables of the export contract (ratings and
participants) plus the truth; :func:`rate_trials` rates an arbitrary table of trials with the
same model, for callers (the Django demo) that create the trials themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_FORMS",
    "FormDesign",
    "RatingModel",
    "SimulatedStudy",
    "rate_trials",
    "simulate_ratings",
    "simulate_study",
]


@dataclass(frozen=True)
class FormDesign:
    """One form of a study: its conditions with their true mean rating, clips and sample size."""

    name: str
    conditions: Mapping[str, float]
    n_clips: int
    n_participants: int

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError(f"form {self.name!r} has no conditions")
        if self.n_clips < 1 or self.n_participants < 0:
            raise ValueError(f"form {self.name!r}: n_clips must be >= 1, n_participants >= 0")


#: The paper's two forms with its reported means as the truth (Tables 4 and 5).
PAPER_FORMS: tuple[FormDesign, ...] = (
    FormDesign("form1", {"msi": 74.2, "music_caption": 73.5, "video_caption": 61.4}, 15, 68),
    FormDesign("form2", {"msi": 78.4, "fusion": 76.6}, 8, 50),
)


@dataclass(frozen=True)
class RatingModel:
    """Variance components and rater behaviour of the simulation (rating points, 0-100)."""

    sd_participant: float = 8.0
    sd_clip: float = 5.0
    sd_clip_condition: float = 3.0
    sd_residual: float = 12.0
    careless_fraction: float = 0.08
    careless_kinds: tuple[str, ...] = ("flat", "random", "fast")
    attention_checks: int = 2
    attention_fail_rate: float = 0.02
    careless_attention_fail_rate: float = 0.6
    headphone_fail_rate: float = 0.03
    decimals: int | None = 0

    def __post_init__(self) -> None:
        for name in ("sd_participant", "sd_clip", "sd_clip_condition", "sd_residual"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 <= self.careless_fraction <= 1:
            raise ValueError("careless_fraction must lie in [0, 1]")
        unknown = set(self.careless_kinds) - {"flat", "random", "fast"}
        if unknown:
            raise ValueError(f"unknown careless kinds {sorted(unknown)}")


@dataclass
class SimulatedStudy:
    """The export contract's two tables and the truth they were drawn from."""

    ratings: pd.DataFrame
    participants: pd.DataFrame
    truth: dict[str, object] = field(default_factory=dict)


#: The long ratings table, in this order: what the export writes (``analysis.exports``) and
#: what the core reads; simulated studies give the same columns.
RATING_COLUMNS: tuple[str, ...] = (
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
)


def rate_trials(
    trials: pd.DataFrame,
    *,
    means: Mapping[str, float],
    model: RatingModel = RatingModel(),
    careless: Mapping[Any, str] | None = None,
    seed: int = 0,
    participant: str = "participant",
    clip: str = "clip",
    condition: str = "condition",
) -> np.ndarray:
    """Ratings (0-100) for a table of trials, one per row, under the rating model.

    ``means`` maps each condition to its true mean; ``careless`` maps participant -> kind
    ("flat", "random" or "fast") for careless raters. Random effects are drawn per distinct
    participant, clip and (clip, condition) of ``trials``.
    """
    rng = np.random.default_rng(seed)
    missing = set(trials[condition]) - set(means)
    if missing:
        raise ValueError(f"no true mean for condition(s) {sorted(missing, key=str)}")
    p_codes, p_levels = pd.factorize(trials[participant])
    c_codes, c_levels = pd.factorize(trials[clip])
    ic_codes, ic_levels = pd.factorize(
        trials[clip].astype(str) + "\x1f" + trials[condition].astype(str)
    )
    b = rng.normal(0, model.sd_participant, len(p_levels))
    g = rng.normal(0, model.sd_clip, len(c_levels))
    h = rng.normal(0, model.sd_clip_condition, len(ic_levels))
    mu = trials[condition].map(means).to_numpy(float)
    values: np.ndarray = (
        mu + b[p_codes] + g[c_codes] + h[ic_codes] + rng.normal(0, model.sd_residual, len(trials))
    )
    if careless:
        kinds = np.array([careless.get(p, "") for p in p_levels], dtype=object)[p_codes]
        flat_level = rng.uniform(30, 80, len(p_levels))[p_codes]
        is_flat = kinds == "flat"
        values[is_flat] = flat_level[is_flat] + rng.normal(0, 1.0, int(is_flat.sum()))
        rand = (kinds == "random") | (kinds == "fast")
        values[rand] = rng.uniform(0, 100, int(rand.sum()))
    values = np.clip(values, 0, 100)
    if model.decimals is not None:
        values = np.round(values, model.decimals)
    return values


def simulate_study(
    *,
    forms: Sequence[FormDesign] = PAPER_FORMS,
    model: RatingModel = RatingModel(),
    seed: int = 0,
    study: str = "simulated",
    start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
) -> SimulatedStudy:
    """Simulate a whole study: every participant of every form rates every clip's tracks.

    Each trial shows one clip with one track per condition (blind labels in random
    ``position``); clips come in random ``trial_order`` with ``model.attention_checks``
    attention trials mixed in (``is_attention`` rows, condition ``"attention"``: the
    participant is told to set the slider to a value and passes within 5 points).

    >>> s = simulate_study(seed=1)
    >>> s.participants["form"].value_counts().sort_index().to_dict()
    {'form1': 68, 'form2': 50}
    >>> int((~s.ratings["is_attention"]).sum())
    3860
    """
    rng = np.random.default_rng(seed)
    study_id = f"{rng.integers(16**12):012x}"
    rating_frames, people = [], []
    careless_truth: dict[str, str] = {}
    serial = 0
    for form in forms:
        conds = list(form.conditions)
        clips = [f"{form.name}-clip{j + 1:02d}" for j in range(form.n_clips)]
        n_p = form.n_participants
        if n_p == 0:
            continue
        pids = [f"p{serial + i + 1:05d}" for i in range(n_p)]
        serial += n_p
        n_care = int(round(model.careless_fraction * n_p))
        kinds = (
            rng.choice(list(model.careless_kinds), size=n_care)
            if (n_care and model.careless_kinds)
            else np.array([], dtype=object)
        )
        chosen: np.ndarray | list[int] = (
            rng.choice(n_p, size=len(kinds), replace=False) if len(kinds) else []
        )
        careless = {pids[i]: str(k) for i, k in zip(chosen, kinds, strict=True)}
        careless_truth.update(careless)
        n_c, n_k, n_a = len(clips), len(conds), model.attention_checks
        n_trials = n_c + n_a
        # trial layout per participant: a permutation of clips + attention slots
        order = np.argsort(rng.random((n_p, n_trials)), axis=1)  # trial_order of each slot
        # rows for clip trials
        p_idx = np.repeat(np.arange(n_p), n_c * n_k)
        clip_idx = np.tile(np.repeat(np.arange(n_c), n_k), n_p)
        cond_idx = np.tile(np.arange(n_k), n_p * n_c)
        pos = np.argsort(rng.random((n_p * n_c, n_k)), axis=1).ravel()
        trial_order = order[p_idx, clip_idx]
        trials = pd.DataFrame(
            {
                "participant": np.asarray(pids, dtype=object)[p_idx],
                "clip": np.asarray(clips, dtype=object)[clip_idx],
                "condition": np.asarray(conds, dtype=object)[cond_idx],
            }
        )
        values = rate_trials(
            trials,
            means=form.conditions,
            model=model,
            careless=careless,
            seed=int(rng.integers(2**31)),
        )
        kind = np.array([careless.get(p, "") for p in pids], dtype=object)
        fast = kind == "fast"
        listen = np.where(
            fast[p_idx], rng.uniform(0.1, 0.5, len(p_idx)), rng.uniform(4.0, 20.0, len(p_idx))
        )
        trials["track"] = trials["clip"] + "-" + trials["condition"]
        trials["value"] = values
        trials["position"] = pos
        trials["trial_order"] = trial_order
        trials["listening_s"] = np.round(listen, 2)
        trials["language"] = "en"  # the language of the trial page (a simulated study: English)
        trials["is_attention"] = False
        trials["attention_passed"] = pd.NA
        # attention trials
        if n_a:
            ap = np.repeat(np.arange(n_p), n_a)
            slot = np.tile(np.arange(n_c, n_trials), n_p)
            target = rng.choice([10, 25, 75, 90], size=len(ap)).astype(float)
            careless_row = kind[ap] != ""
            fail = rng.random(len(ap)) < np.where(
                careless_row, model.careless_attention_fail_rate, model.attention_fail_rate
            )
            answer = np.where(
                fail,
                np.clip(
                    target + rng.choice([-1, 1], len(ap)) * rng.uniform(20, 50, len(ap)), 0, 100
                ),
                target,
            )
            att = pd.DataFrame(
                {
                    "participant": np.asarray(pids, dtype=object)[ap],
                    "clip": [f"attention-{j - n_c + 1}" for j in slot],
                    "condition": "attention",
                    "track": "attention-check",
                    "value": np.round(answer),
                    "position": 0,
                    "trial_order": order[ap, slot],
                    "listening_s": np.round(rng.uniform(2, 6, len(ap)), 2),
                    "language": "en",
                    "is_attention": True,
                    "attention_passed": np.abs(np.round(answer) - target) <= 5,
                }
            )
            trials = pd.concat([trials, att], ignore_index=True)
        # per-trial durations and timestamps
        per_trial = trials.groupby(["participant", "trial_order"], sort=False)[
            "listening_s"
        ].transform("sum")
        trials["trial_duration_s"] = np.round(
            per_trial.to_numpy()
            + np.where(
                np.isin(trials["participant"], np.asarray(pids)[fast]),
                rng.uniform(0.2, 0.8, len(trials)),
                rng.uniform(3, 12, len(trials)),
            ),
            2,
        )
        trials = trials.sort_values(["participant", "trial_order", "position"], kind="stable")
        p_start = {
            p: start + timedelta(minutes=float(m))
            for p, m in zip(pids, rng.uniform(0, 60 * 24 * 7, n_p), strict=True)
        }
        tdur = trials.drop_duplicates(["participant", "trial_order"])[
            ["participant", "trial_order", "trial_duration_s"]
        ]
        tdur = tdur.assign(end=tdur.groupby("participant")["trial_duration_s"].cumsum() + 30.0)
        tdur["begin"] = tdur["end"] - tdur["trial_duration_s"]
        trials = trials.merge(
            tdur[["participant", "trial_order", "begin", "end"]],
            on=["participant", "trial_order"],
            how="left",
        )
        base = trials["participant"].map(p_start)
        trials["started_at"] = base + pd.to_timedelta(trials["begin"], unit="s")
        trials["submitted_at"] = base + pd.to_timedelta(trials["end"], unit="s")
        headphone = rng.random(n_p) >= np.where(
            kind != "", 3 * model.headphone_fail_rate, model.headphone_fail_rate
        )
        hp = dict(zip(pids, headphone, strict=True))
        trials["headphone_passed"] = trials["participant"].map(hp).astype(bool)
        trials["study"] = study
        trials["form"] = form.name
        sess = {p: f"{rng.integers(16**12):012x}" for p in pids}
        prolific = {p: f"{rng.integers(16**12):012x}{rng.integers(16**12):012x}" for p in pids}
        trials["prolific_pid"] = trials["participant"].map(prolific)
        trials["study_id"] = study_id
        trials["session_id"] = trials["participant"].map(sess)
        rating_frames.append(trials.drop(columns=["begin", "end"]))
        finished = trials.groupby("participant")["submitted_at"].max()
        people.append(
            pd.DataFrame(
                {
                    "study": study,
                    "form": form.name,
                    "participant": pids,
                    "status": "completed",
                    "started_at": [p_start[p] for p in pids],
                    "completed_at": [finished[p] + pd.Timedelta(seconds=20) for p in pids],
                    "age_range": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], n_p),
                    "device": rng.choice(["desktop", "phone", "tablet"], n_p, p=[0.55, 0.4, 0.05]),
                    "music_training": rng.choice(
                        ["none", "some", "formal"], n_p, p=[0.5, 0.35, 0.15]
                    ),
                    "headphone_passed": headphone,
                }
            )
        )
    columns = list(RATING_COLUMNS)
    if rating_frames:
        ratings = pd.concat(rating_frames, ignore_index=True)[columns]
        ratings["attention_passed"] = ratings["attention_passed"].astype("boolean")
        ratings["position"] = ratings["position"].astype(int)
        ratings["trial_order"] = ratings["trial_order"].astype(int)
        participants = pd.concat(people, ignore_index=True)
    else:
        ratings = pd.DataFrame({c: [] for c in columns})
        participants = pd.DataFrame(
            {
                c: []
                for c in [
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
            }
        )
    truth = {
        "means": {f.name: dict(f.conditions) for f in forms},
        "careless": careless_truth,
        "model": model,
        "seed": seed,
    }
    logger.info("simulated %d ratings from %d participants", len(ratings), len(participants))
    return SimulatedStudy(ratings=ratings, participants=participants, truth=truth)


def simulate_ratings(
    *,
    forms: Sequence[FormDesign] = PAPER_FORMS,
    model: RatingModel = RatingModel(),
    seed: int = 0,
    study: str = "simulated",
) -> pd.DataFrame:
    """The ratings table of :func:`simulate_study` (the export contract's long table)."""
    return simulate_study(forms=forms, model=model, seed=seed, study=study).ratings
