"""Music scene imagination: ``python -m modeling.imagine --checkpoint DIR AUDIO...``.

Asks a trained MusiScene about each clip, in batches, and prints one JSON line per clip
(``{"audio", "question", "answer"}``). The default question is the scene question; ``--caption``
asks MU-LLaMA's music-caption question instead. Sampling defaults are MU-LLaMA's (temperature
0.6, top_p 0.8, up to 512 new tokens); ``--temperature 0`` is greedy.

Python API (for the generation workers)::

    imaginer = SceneImaginer.from_checkpoint("runs/msi/best", device="cuda")
    [result] = imaginer.imagine(["clip.wav"])
    result.answer
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .musiscene.features import FeatureCache, MertEncoder, encode_files
from .musiscene.generate import SamplingConfig, generate_answers
from .musiscene.model import MusiScene, load_musiscene, load_tokenizer
from .musiscene.prompts import CAPTION_QUESTION, SCENE_QUESTION

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Imagination:
    audio: str
    question: str
    answer: str


class SceneImaginer:
    """A loaded MusiScene, its tokenizer and its MERT encoder, ready to answer about clips."""

    def __init__(
        self,
        model: MusiScene,
        tokenizer: PreTrainedTokenizerBase,
        encoder: MertEncoder,
        *,
        cache: FeatureCache | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.cache = cache
        self.autocast_dtype = autocast_dtype

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: Path | str,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        llama: str | None = None,
        mert: str | None = None,
        feature_cache: Path | str | None = None,
    ) -> SceneImaginer:
        """Load everything from local files; ``llama``/``mert`` override the ids stored in the
        checkpoint.

        ``dtype`` is the frozen LLaMA's (default bf16 on a GPU, float32 on the CPU).
        """
        target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
        model = load_musiscene(checkpoint, dtype=dtype, device=target, llama=llama)
        encoder = MertEncoder(
            mert or model.config.mert, device=target, max_seconds=model.config.max_clip_seconds
        )
        cache = (
            FeatureCache(feature_cache, encoder_id=encoder.encoder_id) if feature_cache else None
        )
        return cls(
            model,
            load_tokenizer(model.config.llama),
            encoder,
            cache=cache,
            autocast_dtype=None if dtype == torch.float32 else dtype,
        )

    def imagine(
        self,
        audio: Sequence[Path | str],
        *,
        question: str = SCENE_QUESTION,
        sampling: SamplingConfig | None = None,
        batch_size: int = 8,
        seed: int | None = None,
    ) -> list[Imagination]:
        """One answer per clip, ``batch_size`` clips per generation batch (MU-LLaMA's sampling by
        default)."""
        sampling = sampling or SamplingConfig()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        results: list[Imagination] = []
        device = next(self.model.adapter.parameters()).device
        for start in range(0, len(audio), batch_size):
            chunk = list(audio[start : start + batch_size])
            feats = encode_files(chunk, encoder=self.encoder, cache=self.cache)  # (B, L, Dm)
            ctx = (
                torch.autocast(device.type, dtype=self.autocast_dtype)
                if self.autocast_dtype
                else contextlib.nullcontext()
            )
            with ctx:
                answers = generate_answers(
                    self.model,
                    self.tokenizer,
                    features=feats,
                    questions=[question] * len(chunk),
                    sampling=sampling,
                    seed=None if seed is None else seed + start,
                )
            results += [
                Imagination(str(a), question, ans) for a, ans in zip(chunk, answers, strict=True)
            ]
        return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m modeling.imagine", description="Imagine the scene a piece of music suits."
    )
    p.add_argument(
        "audio", nargs="+", type=Path, help="audio files (any format soundfile or PyAV reads)"
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="a MusiScene checkpoint folder")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--question", default=SCENE_QUESTION, help=f"default: {SCENE_QUESTION!r}")
    q.add_argument(
        "--caption", action="store_true", help=f"ask {CAPTION_QUESTION!r} (MU-LLaMA-style captions)"
    )
    p.add_argument("--temperature", type=float, default=0.6)
    p.add_argument("--top-p", type=float, default=0.8)
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when present)"
    )
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default=None)
    p.add_argument(
        "--llama", default=None, help="override the LLaMA id/folder stored in the checkpoint"
    )
    p.add_argument(
        "--mert", default=None, help="override the MERT id/folder stored in the checkpoint"
    )
    p.add_argument("--feature-cache", type=Path, default=None)
    p.add_argument("--output", type=Path, default=None, help="write JSONL here instead of stdout")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, None: None}[
        args.dtype
    ]
    imaginer = SceneImaginer.from_checkpoint(
        args.checkpoint,
        device=args.device,
        dtype=dtype,
        llama=args.llama,
        mert=args.mert,
        feature_cache=args.feature_cache,
    )
    sampling = SamplingConfig(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens
    )
    results = imaginer.imagine(
        args.audio,
        question=CAPTION_QUESTION if args.caption else args.question,
        sampling=sampling,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    out = args.output.open("w") if args.output else sys.stdout
    try:
        for r in results:
            out.write(json.dumps(asdict(r)) + "\n")
    finally:
        if args.output:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
