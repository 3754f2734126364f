"""MusicGen text-to-music through Hugging Face transformers, loaded from local files only.

    >>> model = get_pretrained("facebook/musicgen-small")           # doctest: +SKIP
    >>> audio = model.generate(["calm piano"], duration_s=10, seed=0)  # doctest: +SKIP
    >>> audio.shape, model.sample_rate                              # doctest: +SKIP
    ((1, 320000), 32000)

The published checkpoints (``facebook/musicgen-small``, ``-medium``, ``-large``) are read from the
local Hugging Face cache, ``$MUSISCENE_MODEL_DIR`` or a folder (see :mod:`modeling.hub`); nothing
is downloaded at run time. :func:`build_tiny` writes a tiny random MusicGen with the same files
(config, weights, generation config, processor and T5 tokenizer) so that tests run the real
generation path in a fraction of a second.

Sampling. transformers draws tokens with ``torch.multinomial`` on the global RNG, so a track
would depend on the other tracks of its batch. Here the sampling is done by
:class:`SeededSampler`, a logits processor that applies temperature and top-k and then takes the
Gumbel-max of noise computed by an integer hash of (seed, step, codebook, token). The noise of one
track therefore depends on its own seed only, and the global RNG is never touched. On the CPU a
(text, seed, parameters) gives the same codes whatever else is in its batch, and a waveform equal
to about 1e-7 (EnCodec's batched convolutions round differently); the tests check both. On a
GPU, batch-size-dependent bf16 matrix products can flip a rare draw.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoProcessor,
    EncodecConfig,
    EncodecFeatureExtractor,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenProcessor,
    T5Config,
    T5Tokenizer,
)

from modeling.hub import ModelNotFoundError, resolve_pretrained

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL",
    "ModelNotFoundError",
    "MusicGen",
    "SeededSampler",
    "build_tiny",
    "get_pretrained",
]

DEFAULT_MODEL = "facebook/musicgen-small"
MAX_SEED = 2**32 - 1

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


# --------------------------------------------------------------------------------------------
# Counter-based noise: a 32-bit integer hash evaluated on int64 tensors (no overflow anywhere).
# --------------------------------------------------------------------------------------------


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for int64 tensors holding values in [0, 2**32), without overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit mixer with full avalanche (Wellons' ``lowbias32`` constants)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x21F0AAAD)
    x = x ^ (x >> 15)
    x = _mul32(x, 0xD35A2D97)
    return x ^ (x >> 15)


class SeededSampler(LogitsProcessor):
    """Temperature + top-k sampling with one independent noise stream per batch item.

    Passed to a *greedy* ``generate`` call: it applies guidance, temperature and top-k, draws each
    row's token by Gumbel-max and returns scores that are 0 at that token and very negative
    elsewhere, so the greedy argmax picks it. (MusicGen's ``generate`` appends its own guidance
    processor after the custom ones; that is why guidance is applied here, before sampling.) The
    noise for (item, step, codebook, token) is a hash of the item's seed and
    those indices, so an item's draws do not depend on the batch it is in, nor on the device.

    Args:
        seeds: one seed per batch item, ints in [0, 2**32).
        num_codebooks: rows per item in the scores (MusicGen flattens (B, K) to B*K rows).
        top_k: keep the ``top_k`` most likely tokens; 0 keeps them all.
        temperature: divides the logits; > 0.
        guidance_scale: classifier-free guidance; > 1 means the scores hold 2*B*K rows
            (conditional first) and are combined here as ``uncond + g * (cond - uncond)``.
    """

    def __init__(
        self,
        *,
        seeds: Sequence[int],
        num_codebooks: int,
        top_k: int,
        temperature: float,
        guidance_scale: float,
    ):
        self.num_codebooks = num_codebooks
        self.guidance_scale = guidance_scale
        self.top_k = top_k
        self.temperature = temperature
        seed_t = torch.tensor([int(s) for s in seeds], dtype=torch.int64)  # (B,)
        codebook = torch.arange(num_codebooks, dtype=torch.int64)  # (K,)
        item_key = _mix32(_mix32(seed_t) ^ 0x5EED5EED)  # (B,)
        row_key = _mix32(
            (item_key[:, None] + _mul32(codebook + 1, _GOLDEN)[None, :]) & _M32
        )  # (B, K)
        self._row_key = row_key.reshape(-1)  # (B*K,)

    def noise(self, step: int, vocab_size: int, device: torch.device) -> torch.Tensor:
        """Uniform noise in (0, 1) for one decoding step, float32 of shape (B*K, V)."""
        row_key = self._row_key.to(device)  # (B*K,)
        step_key = _mix32((row_key + (step * _GOLDEN) % (2**32)) & _M32)  # (B*K,)
        token = torch.arange(vocab_size, dtype=torch.int64, device=device)  # (V,)
        h = _mix32(_mix32(step_key[:, None] ^ token[None, :]) ^ step_key[:, None])  # (B*K, V)
        return ((h >> 8).to(torch.float32) + 0.5) * (1.0 / 2**24)  # (B*K, V) in (0, 1)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # input_ids: (B*K, step) decoder tokens so far; scores: (B*K, V), or (2*B*K, V) with the
        # conditional rows first and the unconditional ones after when guidance is on.
        rows = self._row_key.shape[0]
        logits = scores.float()  # (R, V)
        if self.guidance_scale > 1:
            if scores.shape[0] != 2 * rows:
                raise ValueError(
                    f"expected {2 * rows} score rows with guidance, got {scores.shape[0]}"
                )
            cond, uncond = logits.split(rows, dim=0)  # (B*K, V) each
            logits = uncond + self.guidance_scale * (cond - uncond)  # (B*K, V)
        elif scores.shape[0] != rows:
            raise ValueError(f"expected {rows} score rows, got {scores.shape[0]}")
        logits = logits / self.temperature  # (B*K, V)
        vocab_size = logits.shape[-1]
        if 0 < self.top_k < vocab_size:
            kth = torch.topk(logits, self.top_k, dim=-1).values[..., -1:]  # (B*K, 1)
            logits = logits.masked_fill(logits < kth, float("-inf"))
        u = self.noise(input_ids.shape[-1], vocab_size, logits.device)  # (B*K, V)
        choice = torch.argmax(logits - torch.log(-torch.log(u)), dim=-1)  # (B*K,)
        # 0 at the chosen token, a finite minimum elsewhere: greedy picks the token, and the
        # guidance processor transformers runs after this one, uncond + g * (cond - uncond),
        # leaves identical cond/uncond rows unchanged (-inf would turn into NaN there).
        out = torch.full(
            (rows, vocab_size),
            torch.finfo(scores.dtype).min,
            dtype=scores.dtype,
            device=scores.device,
        )  # (B*K, V)
        out.scatter_(1, choice[:, None], 0.0)
        return out.repeat(scores.shape[0] // rows, 1)  # (R, V)


# --------------------------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------------------------


def default_dtype(device: torch.device | str) -> torch.dtype:
    """float32 on the CPU, bfloat16 on a GPU."""
    return torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16


class MusicGen:
    """A loaded MusicGen (text encoder, decoder, EnCodec) and its processor.

    Build one with :func:`get_pretrained`. The EnCodec audio decoder always runs in float32;
    the text encoder and the decoder run in ``dtype``.

    Args:
        model: the transformers model.
        processor: its processor (T5 tokenizer + EnCodec feature extractor).
        name: the id or path it was loaded from, for logs.
        cache_implementation: the decoder's key/value cache; None (default) is transformers'
            dynamic cache, ``"static"`` preallocates it, which lets transformers compile the
            decoder step on a GPU (same codes on the CPU, checked in the tests).
    """

    def __init__(
        self,
        *,
        model: MusicgenForConditionalGeneration,
        processor: MusicgenProcessor,
        name: str,
        cache_implementation: str | None = None,
    ):
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.cache_implementation = cache_implementation

    @property
    def device(self) -> torch.device:
        return self.model.decoder.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.decoder.dtype

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (32000 for the published checkpoints)."""
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> float:
        """Codec frames per second (50 for the published checkpoints)."""
        return self.sample_rate / self.hop_length

    @property
    def hop_length(self) -> int:
        """Audio samples per codec frame (640 for the published checkpoints)."""
        return int(np.prod(self.model.config.audio_encoder.upsampling_ratios))

    @property
    def num_codebooks(self) -> int:
        return int(self.model.decoder.config.num_codebooks)

    def num_samples(self, duration_s: float) -> int:
        """Samples returned for ``duration_s`` seconds: ``round(duration_s * sample_rate)``."""
        return round(duration_s * self.sample_rate)

    def max_new_tokens(self, duration_s: float) -> int:
        """Decoder steps for ``duration_s`` seconds.

        With the delay pattern, ``max_new_tokens`` steps give ``max_new_tokens - (K - 1)`` audio
        frames for K codebooks, so 10 s at 50 Hz with 4 codebooks needs 503 steps.
        """
        frames = math.ceil(self.num_samples(duration_s) / self.hop_length)
        return frames + self.num_codebooks - 1

    @torch.inference_mode()
    def generate(
        self,
        texts: Sequence[str],
        *,
        duration_s: float,
        seed: int | Sequence[int],
        top_k: int = 250,
        temperature: float = 1.0,
        guidance_scale: float = 3.0,
    ) -> np.ndarray:
        """Generate one mono track per text, all in one batch.

        Args:
            texts: the text prompts (captions); at least one.
            duration_s: length of every track in seconds; > 0. The result has exactly
                ``round(duration_s * sample_rate)`` samples.
            seed: an int in [0, 2**32) used by every track, or one such int per text. A track
                depends only on its text, its seed and the parameters below, not on the rest
                of the batch (on the CPU it is bit-for-bit reproducible).
            top_k: sample from the ``top_k`` most likely codes; 0 samples from all. Default 250,
                as published.
            temperature: softmax temperature; > 0. Default 1.0.
            guidance_scale: classifier-free guidance scale; 1.0 turns guidance off (half the
                decoder work), must be >= 1. Default 3.0, as published.

        Returns:
            float32 array of shape (len(texts), round(duration_s * sample_rate)).
        """
        texts, seeds = self._check_args(texts, duration_s, seed, top_k, temperature, guidance_scale)
        steps = self.max_new_tokens(duration_s)
        n = self.num_samples(duration_s)
        inputs = self.processor(text=texts, padding=True, return_tensors="pt").to(self.device)
        sampler = SeededSampler(
            seeds=seeds,
            num_codebooks=self.num_codebooks,
            top_k=top_k,
            temperature=temperature,
            guidance_scale=guidance_scale,
        )
        config = GenerationConfig.from_dict(self.model.generation_config.to_dict())
        config.update(
            do_sample=False,  # SeededSampler draws the tokens; greedy picks them
            # transformers' neutral values (None would be filled in from the checkpoint's
            # sampling defaults); greedy decoding does not use them.
            top_k=50,
            top_p=1.0,
            temperature=1.0,
            guidance_scale=guidance_scale,  # 1.0: no unconditional rows
            max_new_tokens=steps,
            min_new_tokens=None,
            max_length=None,
            eos_token_id=None,
            num_return_sequences=1,
            return_dict_in_generate=False,
            cache_implementation=self.cache_implementation,
        )
        logger.debug(
            "%s: %d tracks x %.2f s, %d decoder steps", self.name, len(texts), duration_s, steps
        )
        audio = self.model.generate(
            **inputs, generation_config=config, logits_processor=LogitsProcessorList([sampler])
        )  # (B, 1, T)
        audio = audio[:, 0, :n].float()  # (B, <=N)
        if audio.shape[-1] < n:
            logger.warning("%s returned %d samples, padding to %d", self.name, audio.shape[-1], n)
            audio = torch.nn.functional.pad(audio, (0, n - audio.shape[-1]))  # (B, N)
        samples: np.ndarray = audio.cpu().numpy().astype(np.float32, copy=False)
        return samples

    @staticmethod
    def _check_args(
        texts: Sequence[str],
        duration_s: float,
        seed: int | Sequence[int],
        top_k: int,
        temperature: float,
        guidance_scale: float,
    ) -> tuple[list[str], list[int]]:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string: pass [text]")
        texts = list(texts)
        if not texts:
            raise ValueError("texts is empty: give at least one text to generate music for")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("every text must be a str")
        if (
            isinstance(duration_s, bool)
            or not isinstance(duration_s, numbers.Real)
            or not (math.isfinite(duration_s) and duration_s > 0)
        ):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        seeds = [seed] * len(texts) if isinstance(seed, numbers.Integral) else list(seed)
        if len(seeds) != len(texts):
            raise ValueError(f"got {len(seeds)} seeds for {len(texts)} texts")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= MAX_SEED:
                raise ValueError(f"seeds must be ints in [0, 2**32), got {s!r}")
        seeds = [int(s) for s in seeds]
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
            raise ValueError(f"top_k must be an int >= 0 (0 = no truncation), got {top_k!r}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not (math.isfinite(guidance_scale) and guidance_scale >= 1):
            raise ValueError(
                f"guidance_scale must be >= 1 (1 = no guidance), got {guidance_scale!r}"
            )
        return texts, seeds


def get_pretrained(
    name_or_path: str = DEFAULT_MODEL,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cache_implementation: str | None = None,
) -> MusicGen:
    """Load a MusicGen checkpoint from local files only.

    Args:
        name_or_path: a Hugging Face id (``"facebook/musicgen-small"``, ``-medium``, ``-large``)
            found in the local cache or under ``$MUSISCENE_MODEL_DIR``, or a folder written by
            ``save_pretrained`` (such as :func:`build_tiny`'s). Default ``facebook/musicgen-small``.
        device: where to run; default ``"cuda"`` when available, else ``"cpu"``.
        dtype: dtype of the text encoder and decoder; default float32 on the CPU and bfloat16 on
            a GPU. EnCodec stays in float32.
        cache_implementation: None (default, dynamic) or ``"static"``; see :class:`MusicGen`.

    Raises:
        ModelNotFoundError: the model is not on this machine; the message says how to provide it.
    """
    path = resolve_pretrained(name_or_path, kind="MusicGen")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"MusicGen model {name_or_path!r}: {path} has no config.json; it must be a folder "
            "written by save_pretrained (e.g. `python -m modeling.tiny build DIR --family "
            "musicgen`)"
        )
    device = torch.device(
        device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    dtype = dtype if dtype is not None else default_dtype(device)
    model = MusicgenForConditionalGeneration.from_pretrained(
        path, local_files_only=True, dtype=dtype
    )
    model.audio_encoder.to(torch.float32)
    model.to(device).eval()
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    logger.info("loaded MusicGen %s from %s on %s (%s)", name_or_path, path, device, dtype)
    return MusicGen(
        model=model,
        processor=processor,
        name=str(name_or_path),
        cache_implementation=cache_implementation,
    )


# --------------------------------------------------------------------------------------------
# Tiny random checkpoint
# --------------------------------------------------------------------------------------------

_TINY_WORDS = (
    "a an the and with of in for to music song track piano guitar drums beat bass strings "
    "synth vocals choir orchestra melody rhythm harmony tempo upbeat calm sad happy dark bright "
    "slow fast soft loud gentle energetic ambient rock pop jazz electronic classical cinematic "
    "folk video scene people city night nature"
).split()


def tiny_tokenizer() -> T5Tokenizer:
    """A T5 (unigram) tokenizer over a few music words plus single letters, so any text encodes."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + w, -3.0) for w in _TINY_WORDS]
    vocab += [("\u2581" + c, -6.0) for c in letters] + [(c, -5.0) for c in letters]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_config(*, text_vocab_size: int) -> MusicgenConfig:
    """A MusicGen with the published layout (32 kHz, 50 Hz frames, 4 codebooks) at toy sizes."""
    text = T5Config(
        vocab_size=text_vocab_size,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
    )
    # 32 kHz / (8*5*4*4) = 50 Hz frames; 256 codes = 8 bits; 1.6 kbps / (50 Hz * 8 bits) = 4
    # codebooks.
    audio = EncodecConfig(
        sampling_rate=32_000,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=256,
        target_bandwidths=[1.6],
        hidden_size=16,
        codebook_dim=16,
        num_filters=4,
        num_lstm_layers=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=256,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=64,
        num_codebooks=4,
        max_position_embeddings=4096,
        pad_token_id=256,
        bos_token_id=256,
        initializer_factor=0.5,  # peaked logits, so that the text and the guidance scale matter
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)


def build_tiny(out_dir: Path | str, *, seed: int = 0) -> Path:
    """Write a tiny random MusicGen (weights, configs, processor, tokenizer) to ``out_dir``.

    The folder loads with :func:`get_pretrained` exactly like a published checkpoint and
    generates 1 s of (noise-like) audio in well under a second on the CPU.

    Args:
        out_dir: folder to write; created if missing.
        seed: seed of the random weights. Default 0.

    Returns:
        ``out_dir`` as a Path.
    """
    out_dir = Path(out_dir)
    tokenizer = tiny_tokenizer()
    config = tiny_config(text_vocab_size=len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MusicgenForConditionalGeneration(config).eval()
        # EnCodec initialises its codebooks to zeros, which would make every code decode to the
        # same audio; random codebooks make the waveform depend on the generated codes.
        for layer in model.audio_encoder.quantizer.layers:
            embed = torch.randn_like(layer.codebook.embed)  # (codebook_size, codebook_dim)
            layer.codebook.embed.copy_(embed)
            layer.codebook.embed_avg.copy_(embed)
    pad = config.decoder.pad_token_id
    model.generation_config = GenerationConfig(
        do_sample=True,
        top_k=250,
        guidance_scale=3.0,
        max_length=1500,
        pad_token_id=pad,
        bos_token_id=pad,
        decoder_start_token_id=pad,
    )  # the published checkpoints' generation defaults
    processor = MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=32_000),
        tokenizer=tokenizer,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    logger.info("wrote tiny MusicGen to %s", out_dir)
    return out_dir
