"""Simulated participants who take a live study through the same services real ones use.

:func:`simulate_participants` starts N participants with ``survey.participation`` (start,
instructions, practice, the headphone check when the study has one, every trial and attention
check in their own random order and blind labels, the questionnaire, completion). Their ratings
come from the analysis core's generative model (``analysis.simulate.rate_trials``): a known
mean per condition, participant, clip and clip x condition variance, residual noise, and a share
of careless raters (flat, random or fast). The truth is returned, so a test can check that the
analysis recovers it and a researcher sees a full report at once.

Simulated participants are marked: ``Participant.simulated`` is set (exports and reports show
it), their PROLIFIC_PID starts with ``SIM-``, their STUDY_ID is ``simulated`` and their user
agent says so. They run in real time; each trial's opening time is
set back by its simulated duration, so the server measures a realistic time per trial (and checks
the listening claimed against it, as for anyone). Once a participant is through, their stored
timestamps are laid out on one simulated clock ending now: consent, then the instructions and
practice, each item in order (shown, then submitted after its duration), the questionnaire. So a
participant starts before their trials, their duration covers them, and each trial's listening
fits inside its time.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from analysis.simulate import RatingModel, rate_trials
from survey import participation as P
from survey.models import (
    PageVisit,
    Participant,
    QualityCheck,
    Rating,
    Study,
    Trial,
    TrialResponse,
    TrialTrack,
)

logger = logging.getLogger(__name__)

SIMULATED_STUDY_ID = "simulated"
#: On SQLite, the simulation leaves the write lock free this long after each participant, so that
#: real participants' requests are served while it runs (between items, its reads leave gaps).
SQLITE_PAUSE_S = 0.02
SIMULATED_USER_AGENT = "MusiScene Studio simulated participant"

#: The paper's reported means (Tables 4 and 5) per form, used when ``effects`` is not given.
PAPER_MEANS: dict[str, dict[str, float]] = {
    "form1": {"video_caps": 61.4, "music_caps": 73.5, "msi": 74.2},
    "form2": {"fusion": 76.6, "msi": 78.4},
}
#: Per condition, for forms with other names.
CONDITION_MEANS: dict[str, float] = {
    "video_caps": 61.4,
    "music_caps": 73.5,
    "fusion": 76.6,
    "msi": 78.4,
}

Effects = Mapping[str, float] | Mapping[str, Mapping[str, float]]


class SimulationError(ValueError):
    """The study cannot be simulated as asked; the message says why."""


@dataclass
class SimulationSummary:
    """What happened, and the truth the ratings were drawn from."""

    study: str
    requested: int
    seed: int
    started: int = 0
    completed: int = 0
    screened_out: int = 0
    ratings: int = 0
    attention_checks: int = 0
    means: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # form -> condition -> true mean
    careless: dict[str, str] = field(
        default_factory=dict
    )  # participant public id -> flat/random/fast
    participants: list[str] = field(default_factory=list)  # public ids, in the order they started

    def __str__(self) -> str:
        return (
            f"{self.study}: {self.started} simulated participants started, {self.completed} "
            "completed, "
            f"{self.screened_out} screened out, {self.ratings} ratings, "
            f"{len(self.careless)} careless "
            f"({', '.join(sorted(set(self.careless.values()))) or 'none'})"
        )


def _mean_of(effects: Effects | None, form: str, condition: str) -> float:
    if effects:
        nested = any(isinstance(v, Mapping) for v in effects.values())
        if nested:
            per_form = effects.get(form)
            if isinstance(per_form, Mapping) and condition in per_form:
                return float(per_form[condition])
        elif condition in effects:
            return float(effects[condition])  # type: ignore[arg-type]
        raise SimulationError(
            f"effects give no true mean for condition {condition!r} of form {form!r}"
        )
    if condition in PAPER_MEANS.get(form, {}):
        return PAPER_MEANS[form][condition]
    if condition in CONDITION_MEANS:
        return CONDITION_MEANS[condition]
    raise SimulationError(
        f"no default true mean for condition {condition!r}; pass "
        f"effects={{'{condition}': 70.0, ...}}"
    )


def _true_means(study: Study, effects: Effects | None) -> dict[str, dict[str, float]]:
    pairs = (
        TrialTrack.objects.filter(trial__form__study=study)
        .values_list("trial__form__name", "condition__name")
        .distinct()
    )
    means: dict[str, dict[str, float]] = {}
    for form, cond in sorted(pairs):
        means.setdefault(form, {})[cond] = _mean_of(effects, form, cond)
    return means


def _answers(rng: np.random.Generator) -> dict[str, str]:
    return {
        "age_range": str(rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"])),
        "device": str(
            rng.choice(
                ["headphones", "earbuds", "laptop speakers", "phone speaker"],
                p=[0.5, 0.3, 0.15, 0.05],
            )
        ),
        "music_training": str(rng.choice(["none", "some", "formal"], p=[0.5, 0.35, 0.15])),
        "comment": "",
    }


def _set_opened(participant: Participant, seconds: float) -> None:
    """The simulated clock: the current item opened ``seconds`` ago."""
    opened = timezone.now() - timedelta(seconds=seconds)
    Participant.objects.filter(pk=participant.pk).update(item_started_at=opened)
    participant.item_started_at = opened


def _let_others_write() -> None:
    """A pause between two of the simulation's writes on SQLite, where one connection writes at
    a time and a waiting one polls for the lock every 100 ms or so: without it the simulation
    takes the lock back at once, and a real participant's request can wait until its busy
    timeout runs out (a 503). PostgreSQL locks rows, not the database: no pause there."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        time.sleep(SQLITE_PAUSE_S)


@transaction.atomic
def _lay_out_on_a_clock(participant: Participant, rng: np.random.Generator) -> None:
    """Rewrite one simulated participant's timestamps onto a single timeline that ends now.

    The services ran in real time (milliseconds); here the participant spends a realistic while on
    consent and instructions, then each item for its measured duration (with a page load between
    items), then the questionnaire."""
    p = Participant.objects.get(pk=participant.pk)
    responses = list(TrialResponse.objects.filter(participant=p).order_by("sequence_index"))
    intro = float(rng.uniform(40.0, 120.0))  # consent, instructions, practice, headphone check
    gaps = rng.uniform(0.5, 2.0, len(responses))
    outro = float(rng.uniform(20.0, 60.0)) if p.status == Participant.Status.COMPLETED else 0.0
    total = intro + sum(r.duration_s or 0.0 for r in responses) + float(gaps.sum()) + outro
    start = timezone.now() - timedelta(seconds=total)
    t = start + timedelta(seconds=intro)
    shown_at: dict[int, tuple[datetime, datetime]] = {}  # sequence index -> shown, submitted
    for r, gap in zip(responses, gaps, strict=True):
        r.shown_at = t
        t = t + timedelta(seconds=r.duration_s or 0.0)
        r.submitted_at = t
        shown_at[r.sequence_index] = (r.shown_at, r.submitted_at)
        t = t + timedelta(seconds=float(gap))
    TrialResponse.objects.bulk_update(responses, ["shown_at", "submitted_at"])
    by_submission = {r.submission_id: r for r in responses}
    ratings = list(Rating.objects.filter(participant=p))
    for rating in ratings:
        r = by_submission[rating.submission_id]
        rating.trial_started_at, rating.created_at = r.shown_at, r.submitted_at
    Rating.objects.bulk_update(ratings, ["trial_started_at", "created_at"])
    checks = list(QualityCheck.objects.filter(participant=p))
    for check in checks:
        times = shown_at.get((check.details or {}).get("index", -1))
        check.created_at = times[1] if times is not None else start + timedelta(seconds=intro)
    QualityCheck.objects.bulk_update(checks, ["created_at"])
    visits = list(PageVisit.objects.filter(participant=p).order_by("pk"))
    for visit in visits:
        times = shown_at.get(visit.sequence_index) if visit.sequence_index is not None else None
        if times is not None:
            visit.at = times[0]
        elif visit.page == Participant.Stage.QUESTIONNAIRE:
            visit.at = t
        else:
            visit.at = start + timedelta(seconds=intro * 0.5)
    PageVisit.objects.bulk_update(visits, ["at"])
    end = t + timedelta(seconds=outro)
    last = responses[-1] if responses else None
    Participant.objects.filter(pk=p.pk).update(
        started_at=start,
        consented_at=start if p.consented_at else None,
        completed_at=end if p.completed_at else None,
        last_seen_at=end,
        item_started_at=last.shown_at if last else p.item_started_at,
    )


def simulate_participants(
    study: Study,
    n: int,
    *,
    seed: int,
    effects: Effects | None = None,
    careless: float = 0.1,
    model: RatingModel | None = None,
) -> SimulationSummary:
    """``n`` simulated participants take the live ``study`` through ``survey.participation``.

    ``effects`` gives the true mean rating per condition (``{"msi": 78, ...}``) or per form and
    condition (``{"form1": {"msi": 74.2, ...}, ...}``); by default the paper's means.
    ``careless`` is the share of careless raters; ``model`` the variance components
    (``analysis.simulate.RatingModel``). The same seed gives the same ratings for the same
    trials; calling again adds ``n`` more participants.
    """
    if n < 0:
        raise SimulationError("the number of simulated participants cannot be negative")
    if seed < 0:
        raise SimulationError("the seed must be 0 or more")
    if not 0 <= careless <= 1:
        raise SimulationError("careless must be a share between 0 and 1")
    study.refresh_from_db()
    if study.status != Study.Status.LIVE:
        raise SimulationError(
            f"study {study.slug!r} is {study.status}: simulated participants need a live study"
        )
    other = sorted(f.name for f in study.forms.all() if getattr(f, "kind", "rating") != "rating")
    if other:
        raise SimulationError(
            f"study {study.slug!r} has forms that are not rating forms ({', '.join(other)}): "
            "simulated "
            "participants only rate tracks (simulated descriptions would become captions)"
        )
    model = replace(model or RatingModel(), careless_fraction=careless)
    means = _true_means(study, effects)
    if not means:
        raise SimulationError(f"study {study.slug!r} has no trials with tracks to rate")
    summary = SimulationSummary(study=study.slug, requested=n, seed=seed, means=means)
    if n == 0:
        return summary
    rng = np.random.default_rng(seed)
    n_careless = int(round(careless * n))
    kinds = list(model.careless_kinds)
    careless_of = (
        {int(i): str(rng.choice(kinds)) for i in rng.choice(n, size=n_careless, replace=False)}
        if (n_careless and kinds)
        else {}
    )

    # 1. everyone consents and reads the instructions (the assignment balances the forms).
    # Each step commits on its own, as a real participant's requests do: no transaction spans a
    # participant, so on SQLite (one writer at a time) real participants' requests get the write
    # lock between two steps instead of waiting out the simulation (and answering 503).
    people: list[Participant] = []
    for i in range(n):
        p, _ = P.participant_start(
            study=study,
            prolific_pid=f"SIM-{secrets.token_hex(8)}",
            external_study_id=SIMULATED_STUDY_ID,
            external_session_id=f"{seed}-{i}",
            user_agent=SIMULATED_USER_AGENT,
        )
        # Marked in a field of its own: the recruiter ids above are purged after the
        # study's retention date, the flag stays with the research data.
        Participant.objects.filter(pk=p.pk).update(simulated=True)
        p.simulated = True
        for stage in (Participant.Stage.INSTRUCTIONS, Participant.Stage.PRACTICE):
            P.participant_touch(participant=p, page=stage)
            p = P.participant_advance(participant=p, from_stage=stage)
        if study.headphone_check and p.stage == Participant.Stage.HEADPHONE:
            P.participant_touch(participant=p, page=Participant.Stage.HEADPHONE)
            fail_rate = model.headphone_fail_rate * (3 if i in careless_of else 1)
            plan = P.headphone_plan(p)
            answers = [(a + 1) % 3 for a in plan] if rng.random() < fail_rate else plan
            P.submit_headphone(participant=p, answers=answers)
        _let_others_write()
        people.append(p)
        summary.participants.append(p.public_id)
        if i in careless_of:
            summary.careless[p.public_id] = careless_of[i]
    summary.started = len(people)

    # 2. their ratings, drawn at once so that clip effects are shared (sorted: seed-stable)
    trials = {
        t.id: t for t in Trial.objects.filter(form__study=study).select_related("form", "clip")
    }
    condition_of = dict(
        TrialTrack.objects.filter(trial__form__study=study).values_list(
            "track_id", "condition__name"
        )
    )
    rows = []
    for i, p in enumerate(people):
        if p.status != Participant.Status.ACTIVE:
            continue
        for raw in p.trial_order:
            if raw > 0:
                trial = trials[raw]
                for track_id in p.label_order[str(raw)]:
                    rows.append(
                        (
                            i,
                            trial.clip.key,
                            f"{trial.form.name}\x1f{condition_of[track_id]}",
                            track_id,
                        )
                    )
    table = pd.DataFrame(rows, columns=["participant", "clip", "condition", "track"]).sort_values(
        ["participant", "clip", "condition"], kind="stable"
    )
    flat_means = {f"{form}\x1f{c}": m for form, conds in means.items() for c, m in conds.items()}
    values: dict[tuple[int, int], float] = {}
    if len(table):
        drawn = rate_trials(
            table,
            means=flat_means,
            model=model,
            careless=careless_of,
            seed=int(rng.integers(2**31)),
        )
        values = dict(
            zip(
                zip(table["participant"], table["track"], strict=True),
                map(float, drawn),
                strict=True,
            )
        )

    # 3. each takes the trials in their own order, then the questionnaire
    for i, p in enumerate(people):
        if p.status != Participant.Status.ACTIVE:
            summary.screened_out += int(p.status == Participant.Status.SCREENED_OUT)
            _lay_out_on_a_clock(p, np.random.default_rng([seed, i, 0, 3]))
            continue
        kind = careless_of.get(i, "")
        ended = False
        for index in range(len(p.trial_order)):  # each item commits on its own (see step 1)
            P.participant_touch(participant=p, page=Participant.Stage.TRIALS, sequence_index=index)
            P.item_shown(participant=p, index=index)
            item = P.participant_item(participant=p, index=index)
            # each item's own draws: the same seed gives the same answers whatever the order
            item_rng = np.random.default_rng(
                [seed, i, item.trial.position, int(item.kind == "attention")]
            )
            payload, seconds = _answer_item(study, item, values, i, kind, model, item_rng)
            _set_opened(p, seconds)
            result = P.submit_item(
                participant=p,
                index=index,
                submission_id=str(uuid.uuid4()),
                ratings=payload,
                events=[{"type": "play", "t": 0.0}, {"type": "submit", "t": round(seconds, 2)}],
            )
            if item.kind == TrialResponse.Kind.ATTENTION:
                summary.attention_checks += 1
            else:
                summary.ratings += len(payload)
            if result["status"] == "screened_out":
                ended = True
                break
        p.refresh_from_db()
        if ended:
            summary.screened_out += 1
        else:
            P.participant_touch(participant=p, page=Participant.Stage.QUESTIONNAIRE)
            P.participant_complete(
                participant=p, answers=_answers(np.random.default_rng([seed, i, 0, 2]))
            )
            summary.completed += 1
        _lay_out_on_a_clock(p, np.random.default_rng([seed, i, 0, 3]))
        _let_others_write()
    logger.debug("%s", summary)  # the callers print it: at INFO the console showed it twice
    return summary


def _answer_item(
    study: Study,
    item: P.Item,
    values: Mapping[tuple[int, int], float],
    who: int,
    kind: str,
    model: RatingModel,
    rng: np.random.Generator,
) -> tuple[list[dict], float]:
    """The submit of one item (ratings with listening times) and how long it took, in seconds."""
    floor = (study.min_trial_s or 0.0) + 0.2
    if item.kind == TrialResponse.Kind.ATTENTION:
        fail = rng.random() < (
            model.careless_attention_fail_rate if kind else model.attention_fail_rate
        )
        value = float(rng.integers(30, 91) if fail else rng.integers(0, 6))
        heard = float(np.round(rng.uniform(1.0, 4.0), 2))
        seconds = max(floor, heard + rng.uniform(1.5, 5.0))
        return [
            {"label": item.labels[0], "value": value, "moved": True, "listening_s": heard}
        ], seconds
    payload, total = [], 0.0
    for label, track in zip(item.labels, item.tracks, strict=True):
        need = P.required_listen_s(study=study, track=track)
        heard = need + (
            rng.uniform(0.0, 0.2) if kind == "fast" else rng.uniform(0.5, max(1.0, need))
        )
        heard = float(np.round(heard, 2))
        total += heard
        payload.append(
            {"label": label, "value": values[(who, track.id)], "moved": True, "listening_s": heard}
        )
    # the tracks play one at a time on the video's clock: a trial lasts at least their sum
    extra = rng.uniform(0.2, 1.0) if kind == "fast" else rng.uniform(3.0, 12.0)
    return payload, max(floor, float(total + extra))
