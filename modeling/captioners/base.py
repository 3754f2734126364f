"""What every captioner returns: the caption text and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CaptionKind = Literal["video", "music", "fusion", "msi"]
CAPTION_KINDS: tuple[str, ...] = ("video", "music", "fusion", "msi")


@dataclass(frozen=True)
class CaptionResult:
    """One caption and its provenance.

    Attributes:
        text: the caption.
        kind: ``"video"``, ``"music"``, ``"fusion"`` or ``"msi"``.
        model: id or folder of the model that wrote it (as it was asked for, e.g.
            ``"microsoft/git-base-vatex"`` or an endpoint's model name).
        prompt: the exact text the model was given, template included; None for models that
            take no text (GIT).
        parameters: everything else needed to redo it (sampling, seed, frames, backend, ...);
            JSON-serialisable.
        source: the input file (video or audio), when there was one.
    """

    text: str
    kind: CaptionKind
    model: str
    prompt: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CAPTION_KINDS:
            raise ValueError(f"caption kind must be one of {CAPTION_KINDS}, got {self.kind!r}")

    def provenance(self) -> dict[str, Any]:
        """Model, prompt and parameters, as stored beside the caption."""
        return {"model": self.model, "prompt": self.prompt, "parameters": dict(self.parameters)}
