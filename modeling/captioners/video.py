"""Video captions from a GIT model on frames sampled evenly with PyAV.

    >>> captioner = VideoCaptioner.from_pretrained("microsoft/git-base-vatex")  # doctest: +SKIP
    >>> [result] = captioner.caption(["clip.mp4"])                              # doctest: +SKIP
    >>> result.text                                                             # doctest: +SKIP
    'a man is playing a guitar on stage'

The paper captioned its clips with SwinBERT, which transformers does not ship; the GIT models
fine-tuned on VATEX (``microsoft/git-base-vatex``, ``microsoft/git-large-vatex``) are the
nearest video captioners that it does. A GIT video model is trained with a fixed number of frames
(``config.num_image_with_embedding``: 6 for the VATEX models), one temporal embedding each, so
that number is read from the checkpoint. Frame ``i`` of ``N`` is the middle frame of the ``i``-th
of ``N`` equal parts of the clip. Decoding is greedy with up to 50 new tokens by default, as in
transformers' GIT examples.

Frames go through the image processor's PIL backend: the default (torchvision) backend would
need torchvision, which does not work beside this project's CPU torch build.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..hub import resolve_pretrained
from .base import CaptionResult

if TYPE_CHECKING:
    import av
    from transformers import GitForCausalLM, ProcessorMixin

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "microsoft/git-base-vatex"
FRAME_SAMPLING = "segment-middle"  # recorded in the provenance


class VideoDecodeError(ValueError):
    """A video file exists but has no decodable video frames."""


def frame_indices(n_total: int, n_frames: int) -> list[int]:
    """Indices of ``n_frames`` frames spread evenly over ``n_total``: the middle of each equal part.

    A clip shorter than ``n_frames`` frames repeats frames.

    >>> frame_indices(60, 6)
    [5, 15, 25, 35, 45, 55]
    >>> frame_indices(2, 4)
    [0, 0, 1, 1]
    """
    if n_total < 1:
        raise ValueError(f"a clip needs at least one frame, got {n_total}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    return [min(n_total - 1, int((2 * i + 1) * n_total // (2 * n_frames))) for i in range(n_frames)]


def read_frames(path: Path | str, n_frames: int) -> list[np.ndarray]:
    """``n_frames`` RGB frames, each (H, W, 3) uint8, sampled evenly over the whole video.

    The frames are counted by demuxing (no decoding), then one decoding pass keeps the chosen
    ones, so memory stays at ``n_frames`` frames whatever the clip's length.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoDecodeError: the file is not a video PyAV can decode, or has no video frames.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        total = _count_frames(path)
        frames = _decode_at(path, frame_indices(total, n_frames))
        if len(frames) < n_frames:  # fewer frames decode than were demuxed: sample the decoded ones
            frames = _decode_at(path, frame_indices(_count_decoded(path), n_frames))
    except (av.error.FFmpegError, ValueError) as exc:
        if isinstance(exc, VideoDecodeError):
            raise
        raise VideoDecodeError(f"cannot decode video frames from {path}: {exc}") from exc
    return frames


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(f"{path} has no video stream")
    return container.streams.video[0]


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    if count == 0:
        raise VideoDecodeError(f"{path} has a video stream without frames")
    return count


def _count_decoded(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        count = sum(1 for _ in container.decode(_video_stream(container, path)))
    if count == 0:
        raise VideoDecodeError(f"{path} has no decodable video frames")
    return count


def _decode_at(path: Path, indices: list[int]) -> list[np.ndarray]:
    import av

    wanted = set(indices)
    last = max(indices)
    kept: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                kept[i] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            if i >= last:
                break
    return [kept[i] for i in indices if i in kept]


class VideoCaptioner:
    """A GIT video-captioning model and its processor, captioning clips in batches."""

    def __init__(
        self,
        model: GitForCausalLM,
        processor: ProcessorMixin,
        *,
        model_id: str,
        max_new_tokens: int = 50,
        num_beams: int = 1,
    ) -> None:
        if getattr(model.config, "model_type", None) != "git":
            raise ValueError(
                f"{model_id} is a {model.config.model_type!r} model; the video captioner runs GIT "
                "models (e.g. microsoft/git-base-vatex)"
            )
        if max_new_tokens < 1 or num_beams < 1:
            raise ValueError("max_new_tokens and num_beams must be >= 1")
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_MODEL,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_new_tokens: int = 50,
        num_beams: int = 1,
    ) -> VideoCaptioner:
        """Load a GIT checkpoint from local files (never downloaded; see :mod:`modeling.hub`).

        ``dtype`` defaults to float16 on a GPU and float32 on the CPU.
        """
        from transformers import AutoProcessor, GitForCausalLM

        path = resolve_pretrained(name_or_path, kind="GIT video captioning")
        target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            dtype = torch.float16 if target.type == "cuda" else torch.float32
        model = GitForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype).to(target)
        processor = AutoProcessor.from_pretrained(path, local_files_only=True, backend="pil")
        return cls(
            model,
            processor,
            model_id=name_or_path,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
        )

    @property
    def num_frames(self) -> int:
        """Frames per clip: the checkpoint's temporal embeddings (1 for an image GIT)."""
        return int(self.model.config.num_image_with_embedding or 1)

    def parameters(self) -> dict[str, object]:
        return {
            "num_frames": self.num_frames,
            "frame_sampling": FRAME_SAMPLING,
            "decoding": "greedy" if self.num_beams == 1 else "beam",
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
        }

    @torch.no_grad()
    def caption_frames(self, clips: Sequence[Sequence[np.ndarray]]) -> list[str]:
        """One caption per clip; each clip is ``num_frames`` RGB frames (H, W, 3) uint8."""
        if not clips:
            return []
        for clip in clips:
            if len(clip) != self.num_frames:
                raise ValueError(
                    f"{self.model_id} takes {self.num_frames} frames per clip, got {len(clip)}"
                )
        flat = [frame for clip in clips for frame in clip]
        pixels = self.processor(images=flat, return_tensors="pt").pixel_values  # (B*F, 3, H, W)
        pixels = pixels.reshape(len(clips), self.num_frames, *pixels.shape[1:])  # (B, F, 3, H, W)
        if self.num_frames == 1:
            pixels = pixels[:, 0]  # (B, 3, H, W): an image GIT takes 4-D input
        pixels = pixels.to(self.model.device, self.model.dtype)
        ids = self.model.generate(
            pixel_values=pixels,
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            do_sample=False,
        )  # (B, T)
        return [text.strip() for text in self.processor.batch_decode(ids, skip_special_tokens=True)]

    def caption(self, videos: Sequence[Path | str], *, batch_size: int = 8) -> list[CaptionResult]:
        """One caption per video file, ``batch_size`` clips per forward pass.

        Raises:
            FileNotFoundError, VideoDecodeError: a video is missing or undecodable (named in the
                message); callers that want to skip bad clips caption them one by one.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        params = self.parameters()
        results: list[CaptionResult] = []
        for start in range(0, len(videos), batch_size):
            chunk = list(videos[start : start + batch_size])
            texts = self.caption_frames([read_frames(v, self.num_frames) for v in chunk])
            results += [
                CaptionResult(
                    text=t,
                    kind="video",
                    model=self.model_id,
                    prompt=None,
                    parameters=dict(params),
                    source=str(v),
                )
                for v, t in zip(chunk, texts, strict=True)
            ]
            logger.info("captioned %d/%d videos", len(results), len(videos))
        return results


# ------------------------------------------------------------------------------------ tiny model

TINY_WORDS = (
    "a an the man woman people person group is are playing dancing singing walking running talking "
    "guitar piano drums on in at of and with stage room street beach car video game"
).split()


def build_tiny(out_dir: Path | str, *, seed: int = 0, num_frames: int = 3) -> Path:
    """Write a tiny random GIT video captioner (``num_frames`` frames of 32x32) to ``out_dir``.

    It has the files of ``microsoft/git-base-vatex`` (config, weights, a CLIP image processor and a
    BERT word-piece tokenizer) and loads with :meth:`VideoCaptioner.from_pretrained`.
    """
    from transformers import BertTokenizer, GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    out_dir = Path(out_dir)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(specials + TINY_WORDS))}
    tokenizer = BertTokenizer(vocab=vocab)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    config = GitConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
            "projection_dim": 32,
            "initializer_range": 0.1,
        },
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_image_with_embedding=num_frames,
        bos_token_id=vocab["[CLS]"],
        eos_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
        # wider than the 0.02 default so that the random decoder's words depend on the frames
        initializer_range=0.1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GitForCausalLM(config).eval()
    model.save_pretrained(out_dir)
    GitProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out_dir)
    return out_dir
