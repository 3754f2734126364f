"""Tiny random checkpoints of the metric models (CLAP, AST, EnCodec, HuBERT/MERT, VGGish).

Each ``build_tiny_*(out_dir, *, seed=0) -> Path`` writes a folder (or file, for VGGish) that loads
through exactly the code path of the real checkpoint, so tests and the demo exercise it offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

__all__ = [
    "build_tiny_clap",
    "build_tiny_ast",
    "build_tiny_encodec",
    "build_tiny_hubert",
    "build_tiny_vggish",
    "tiny_tokenizer",
]

from analysis.metrics.vggish import build_tiny_vggish

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

_WORDS = (
    "a an the calm gentle piano melody with soft strings music song for romantic dinner scene "
    "quiet night fast drums guitar happy sad loud slow video rock jazz electronic beat"
).split()


def tiny_tokenizer(*, roberta: bool = True) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer built in process (no files), with RoBERTa-style special
    tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = (
        ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        if roberta
        else ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
    )
    vocab = {tok: i for i, tok in enumerate(specials + _WORDS)}
    unk = specials[3]
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    bos, eos = specials[0], specials[2]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=specials[1],
        mask_token=specials[4],
        cls_token=bos,
        sep_token=eos,
        model_max_length=64,
    )


def build_tiny_clap(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random ``ClapModel`` + ``ClapProcessor`` (48 kHz, 10 s input) saved with
    save_pretrained."""
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        ClapTextConfig,
    )

    torch.manual_seed(seed)
    out = Path(out_dir)
    tokenizer = tiny_tokenizer()
    text = ClapTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=72,
        projection_dim=16,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    audio = ClapAudioConfig(
        window_size=4,
        num_mel_bins=16,
        spec_size=128,
        patch_size=4,
        patch_stride=(4, 4),
        hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[1, 1],
        projection_dim=16,
        patch_embeds_hidden_size=8,
        num_hidden_layers=2,
    )
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    ClapModel(config).eval().save_pretrained(out)
    fe = ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=48000,
        hop_length=480,
        max_length_s=10,
        truncation="rand_trunc",
    )
    ClapProcessor(feature_extractor=fe, tokenizer=tokenizer).save_pretrained(out)
    return out


def build_tiny_ast(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random ``ASTForAudioClassification`` with the 527 AudioSet outputs and its feature
    extractor."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(seed)
    out = Path(out_dir)
    config = ASTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=128,
        max_length=1024,
        num_labels=527,
        id2label={i: f"class_{i}" for i in range(527)},
        label2id={f"class_{i}": i for i in range(527)},
    )
    ASTForAudioClassification(config).eval().save_pretrained(out)
    ASTFeatureExtractor(num_mel_bins=128, max_length=1024, sampling_rate=16000).save_pretrained(out)
    return out


def build_tiny_encodec(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random 24 kHz ``EncodecModel`` (75 Hz frames, 16-d embedding) and its feature extractor."""
    from transformers import EncodecConfig, EncodecFeatureExtractor, EncodecModel

    torch.manual_seed(seed)
    out = Path(out_dir)
    config = EncodecConfig(
        sampling_rate=24000,
        audio_channels=1,
        num_filters=4,
        hidden_size=16,
        codebook_size=32,
        codebook_dim=16,
        upsampling_ratios=[8, 5, 4, 2],
        target_bandwidths=[1.5],
        num_lstm_layers=1,
        num_residual_layers=1,
    )
    EncodecModel(config).eval().save_pretrained(out)
    EncodecFeatureExtractor(sampling_rate=24000, feature_size=1).save_pretrained(out)
    return out


def build_tiny_hubert(out_dir: str | Path, *, seed: int = 0, sample_rate: int = 24000) -> Path:
    """A random ``HubertModel`` (MERT-v1 layout: 24 kHz, mean/var-normalised input) and its feature
    extractor."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(seed)
    out = Path(out_dir)
    config = HubertConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(10, 8),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=False,
        feat_extract_norm="group",
    )
    HubertModel(config).eval().save_pretrained(out)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sample_rate,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    ).save_pretrained(out)
    return out
