"""Music captions: MU-LLaMA's answer to the music-description question.

    >>> captioner = MusicCaptioner.from_checkpoint("runs/mu-llama", device="cuda")  # doctest: +SKIP
    >>> [result] = captioner.caption(["clip.wav"], seed=0)                          # doctest: +SKIP

The paper's music captions ("Music Caption 1" of the published CSV) are MU-LLaMA's answers to
:data:`~modeling.musiscene.prompts.CAPTION_QUESTION`, asked of the *base* MU-LLaMA adapter: the
published ``checkpoint.pth`` converted with ``python -m modeling.musiscene.convert``, not a
MusiScene fine-tune. This is a thin wrapper over :class:`modeling.imagine.SceneImaginer` that asks
that question with MU-LLaMA's sampling (temperature 0.6, top_p 0.8, up to 512 new tokens) and
records the provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..imagine import SceneImaginer
from ..musiscene.generate import SamplingConfig
from ..musiscene.prompts import CAPTION_QUESTION, format_prompt
from .base import CaptionResult


class MusicCaptioner:
    """A loaded MU-LLaMA (a MusiScene checkpoint folder) asked to describe music."""

    def __init__(
        self,
        imaginer: SceneImaginer,
        *,
        checkpoint: str,
        question: str = CAPTION_QUESTION,
        sampling: SamplingConfig | None = None,
    ) -> None:
        if not question.strip():
            raise ValueError("the music-description question is empty")
        self.imaginer = imaginer
        self.checkpoint = checkpoint
        self.question = question
        self.sampling = sampling or SamplingConfig()

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
        question: str = CAPTION_QUESTION,
        sampling: SamplingConfig | None = None,
    ) -> MusicCaptioner:
        """Load the adapter checkpoint and its LLaMA and MERT from local files (see
        ``SceneImaginer``)."""
        imaginer = SceneImaginer.from_checkpoint(
            checkpoint,
            device=device,
            dtype=dtype,
            llama=llama,
            mert=mert,
            feature_cache=feature_cache,
        )
        return cls(imaginer, checkpoint=str(checkpoint), question=question, sampling=sampling)

    @property
    def prompt(self) -> str:
        """The full prompt the model sees (MU-LLaMA's template around the question)."""
        return format_prompt(self.question, mode=self.imaginer.model.config.prompt_mode)

    def parameters(self, *, batch_size: int, seed: int | None) -> dict[str, object]:
        config = self.imaginer.model.config
        return {
            "question": self.question,
            "prompt_mode": config.prompt_mode,
            "llama": config.llama,
            "mert": self.imaginer.encoder.name,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "max_new_tokens": self.sampling.max_new_tokens,
            "seed": seed,
            "batch_size": batch_size,  # with a seed, the draws of a batch depend on its first index
        }

    def caption(
        self, audio: Sequence[Path | str], *, batch_size: int = 8, seed: int | None = None
    ) -> list[CaptionResult]:
        """One caption per audio file (any format soundfile or PyAV reads), in batches."""
        answers = self.imaginer.imagine(
            audio, question=self.question, sampling=self.sampling, batch_size=batch_size, seed=seed
        )
        params = self.parameters(batch_size=batch_size, seed=seed)
        prompt = self.prompt
        return [
            CaptionResult(
                text=a.answer,
                kind="music",
                model=self.checkpoint,
                prompt=prompt,
                parameters=dict(params),
                source=a.audio,
            )
            for a in answers
        ]
