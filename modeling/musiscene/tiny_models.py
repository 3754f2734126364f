"""Tiny random MERT and LLaMA checkpoints for tests and the demo (``python -m modeling.tiny``).

They are saved with ``save_pretrained`` and loaded through the same code path as the real
``m-a-p/MERT-v1-330M`` and ``meta-llama/Llama-2-7b-hf``. The tiny LLaMA's tokenizer is a real
transformers ``LlamaTokenizer`` whose BPE vocabulary holds the characters plus, as single tokens,
the words of MU-LLaMA's prompt template, the default questions and a small scene vocabulary.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .prompts import CAPTION_QUESTION, CLEAN_TEMPLATE, COMPAT_TEMPLATE, SCENE_QUESTION

if TYPE_CHECKING:
    from transformers import LlamaTokenizer

SCENE_WORDS = (
    "a an the of in on at and with for to by is are this that it music song piece video videos "
    "scene film movie clip calm busy quiet loud happy sad dark bright slow fast soft gentle "
    "energetic peaceful tense dramatic romantic epic beach city street forest mountain night "
    "morning sunset sunrise rain snow ocean river desert party wedding chase battle dance dancing "
    "car cars people walking running cooking travel vlog documentary trailer game sports cartoon "
    "kids family nature timelapse montage piano guitar drums violin strings synth choir rock jazz "
    "pop classical electronic ambient folk hip hop mood rhythm genre tempo upbeat melancholic "
    "suitable kinds kind would be describe elements such as its what"
).split()


def _bpe_vocab(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    specials = ["<unk>", "<s>", "</s>"]
    chars = list(
        dict.fromkeys("▁" + string.ascii_letters + string.digits + string.punctuation + "\n")
    )
    vocab: dict[str, int] = {}
    for piece in specials + chars:
        vocab.setdefault(piece, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in dict.fromkeys(words):  # each word as one token, with and without the "▁" prefix
        for piece, rest in (("▁", word), (word[0], word[1:])):
            for ch in rest:
                merged = piece + ch
                if merged not in vocab:
                    vocab[merged] = len(vocab)
                    merges.append((piece, ch))
                piece = merged
    return vocab, merges


def tiny_llama_tokenizer() -> LlamaTokenizer:
    from transformers import LlamaTokenizer

    text = " ".join(
        [
            COMPAT_TEMPLATE,
            CLEAN_TEMPLATE,
            SCENE_QUESTION,
            CAPTION_QUESTION,
            "built-in function input",
        ]
    )
    words = [w for w in text.replace("\n", " ").split() if w.isalpha()]
    words += [
        w.strip(string.punctuation) for w in text.split() if w.strip(string.punctuation).isalpha()
    ]
    words += SCENE_WORDS
    vocab, merges = _bpe_vocab(words)
    return LlamaTokenizer(vocab=vocab, merges=merges)


def build_tiny_llama(out_dir: Path, *, seed: int = 0) -> Path:
    """A 2-layer LLaMA (hidden 64, 4 heads) and its tokenizer, written to ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = tiny_llama_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
        tie_word_embeddings=False,
        # wider than the 0.02 default so that, as in a pretrained LLaMA, the frozen head can give
        # confident next-token distributions (with 0.02 its logits stay within about +-1)
        initializer_range=0.25,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_tiny_mert(out_dir: Path, *, seed: int = 0) -> Path:
    """A 2-layer MERT-shaped ``HubertModel`` (hidden 32, 24 kHz, hop 320) and its feature
    extractor."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    out_dir = Path(out_dir)
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_bias=False,
        feat_extract_norm="group",
        feat_proj_layer_norm=True,
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(seed)
    model = HubertModel(config)
    model.save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=24000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    ).save_pretrained(out_dir)
    return out_dir
