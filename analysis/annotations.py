"""Annotations out: the long table, and agreement among the annotators of each clip."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from survey.models import Annotation, Form, Study

if TYPE_CHECKING:
    from analysis.metrics.text import Mode

ANNOTATION_COLUMNS = (
    "study",
    "form",
    "participant",
    "prolific_pid",
    "clip",
    "text",
    "tags",
    "listening_s",
    "duration_s",
    "shown_at",
    "submitted_at",
    "caption_id",
    "caption_status",
)


def annotations_frame(*, study: Study, include_rejected: bool = False) -> pd.DataFrame:
    """One row per description, long format; ``tags`` as JSON text. Descriptions whose caption a
    researcher rejected are left out unless ``include_rejected``."""
    rows = (
        Annotation.objects.filter(trial__form__study=study)
        .select_related("participant", "trial__form", "trial__clip", "caption")
        .order_by("trial__clip__key", "created_at")
    )
    if not include_rejected:
        rows = rows.exclude(caption__status="rejected")
    records = []
    for a in rows:
        response = a.participant.responses.filter(trial=a.trial).only("shown_at").first()
        records.append(
            {
                "study": study.slug,
                "form": a.trial.form.name,
                "participant": a.participant.public_id,
                "prolific_pid": a.participant.prolific_pid,
                "clip": a.trial.clip.key,
                "text": a.text,
                "tags": json.dumps(a.tags, sort_keys=True),
                "listening_s": a.listening_s,
                "duration_s": a.duration_s,
                "shown_at": response.shown_at.isoformat()
                if response and response.shown_at
                else None,
                "submitted_at": a.created_at.isoformat(),
                "caption_id": a.caption_id,
                "caption_status": a.caption.status if a.caption else None,
            }
        )
    return pd.DataFrame(records, columns=list(ANNOTATION_COLUMNS))


def text_agreement(
    frame: pd.DataFrame, *, mode: Mode = "standard", bertscore_model: str | None = None
) -> pd.DataFrame:
    """Pairwise similarity of the descriptions of each clip with the project's caption metrics.

    For each clip and each pair of its annotators (a, b), the metrics of ``analysis.metrics.text``
    are computed both ways (a as reference for b, and b for a) and averaged, since neither text is
    the reference. Columns: clip, annotator_a, annotator_b and the metric columns.
    """
    from analysis.metrics.text import SCORE_COLUMNS, caption_item_scores

    pairs: list[tuple[object, object, object, str, str]] = []
    for clip, group in frame.groupby("clip", sort=True):
        texts = list(zip(group["participant"], group["text"], strict=True))
        pairs.extend((clip, a, b, ta, tb) for (a, ta), (b, tb) in itertools.combinations(texts, 2))
    if not pairs:
        return pd.DataFrame(columns=["clip", "annotator_a", "annotator_b", *SCORE_COLUMNS])
    refs = [p[3] for p in pairs] + [p[4] for p in pairs]
    cands = [p[4] for p in pairs] + [p[3] for p in pairs]
    scores = caption_item_scores(refs, cands, mode=mode, bertscore_model=bertscore_model)
    n = len(pairs)
    both = (scores.iloc[:n].reset_index(drop=True) + scores.iloc[n:].reset_index(drop=True)) / 2
    head = pd.DataFrame([p[:3] for p in pairs], columns=["clip", "annotator_a", "annotator_b"])
    return pd.concat([head, both], axis=1)


def tag_agreement(frame: pd.DataFrame, vocabulary: dict[str, list[str]]) -> pd.DataFrame:
    """Krippendorff's alpha (nominal) per tag category. Units are (clip, tag) pairs of the
    category's vocabulary; each annotator of the clip codes 1 when they chose the tag, else 0.
    NaN with a note when alpha is undefined (fewer than two annotators on any clip, or no
    variation at all)."""
    from analysis.agreement import krippendorff_alpha

    out = []
    for category, words in vocabulary.items():
        rows: list[dict[str, object]] = []
        for _, r in frame.iterrows():
            chosen = set(json.loads(r["tags"]).get(category, []))
            rows.extend(
                {"unit": f"{r['clip']}|{w}", "rater": r["participant"], "value": int(w in chosen)}
                for w in words
            )
        data = pd.DataFrame(rows, columns=["unit", "rater", "value"])
        note, alpha = "", np.nan
        try:
            alpha = krippendorff_alpha(
                data,
                raters="rater",
                units="unit",
                ratings="value",
                level="nominal",
                value_domain=[0, 1],
            )
        except (ValueError, ZeroDivisionError) as exc:
            note = str(exc)
        if not note and not np.isfinite(alpha):
            note = "undefined: no pairable values or no variation"
        out.append(
            {
                "category": category,
                "alpha_nominal": alpha,
                "n_units": data["unit"].nunique(),
                "n_annotations": int(frame.shape[0]),
                "note": note,
            }
        )
    return pd.DataFrame(
        out, columns=["category", "alpha_nominal", "n_units", "n_annotations", "note"]
    )


def study_vocabulary(study: Study) -> dict[str, list[str]]:
    vocab: dict[str, list[str]] = {}
    for form in study.forms.filter(kind=Form.Kind.ANNOTATION):
        for category, words in (form.tag_vocabulary or {}).items():
            vocab.setdefault(category, [])
            vocab[category] += [w for w in words if w not in vocab[category]]
    return vocab
