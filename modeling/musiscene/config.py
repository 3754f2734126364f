"""Typed configuration of MusiScene (MERT features -> music adapter -> gated tokens in LLaMA).

The defaults are MU-LLaMA's sizes (research/B_modeling.md 2.3-2.5): MERT-v1-330M gives 25 hidden
states of width 1024; the adapter projects them to LLaMA-2-7B's width 4096 through three residual
SwiGLU blocks of width 16384 and injects one token into each of the last 20 of LLaMA's 32 layers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

TrainableMode = Literal["adapter", "mu-llama-finetune", "both"]
PromptMode = Literal["compat", "clean"]

TRAINABLE_MODES: tuple[str, ...] = ("adapter", "mu-llama-finetune", "both")
PROMPT_MODES: tuple[str, ...] = ("compat", "clean")
CONFIG_NAME = "musiscene_config.json"


@dataclass(frozen=True)
class AdapterConfig:
    """Sizes of the music-understanding adapter.

    Attributes:
        mert_layers: hidden states the encoder gives (MERT-v1-330M: embeddings + 24 layers = 25).
        mert_dim: width of each MERT hidden state (1024).
        llm_dim: LLaMA's hidden size (4096 for LLaMA-2-7B).
        ffn_dim: inner width of each SwiGLU block (MU-LLaMA: 4 * 4096 = 16384).
        n_blocks: residual SwiGLU blocks (3).
        query_layers: LLaMA layers that receive an adapter token, counted from the top (20).
        norm_eps: epsilon of the blocks' RMSNorm (MU-LLaMA's RMSNorm default, 1e-6).
    """

    mert_layers: int = 25
    mert_dim: int = 1024
    llm_dim: int = 4096
    ffn_dim: int = 16384
    n_blocks: int = 3
    query_layers: int = 20
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "norm_eps":
                if not 0 < value < 1:
                    raise ValueError(f"norm_eps must be in (0, 1), got {value}")
            elif f.name == "n_blocks":
                if value < 0:
                    raise ValueError(f"n_blocks must be >= 0, got {value}")
            elif not isinstance(value, int) or value < 1:
                raise ValueError(f"{f.name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class MusiSceneConfig:
    """Everything needed to rebuild a MusiScene model around its frozen parts.

    Attributes:
        llama: id or folder of the frozen causal LM (a transformers ``LlamaForCausalLM``).
        mert: id or folder of the frozen music encoder (MERT as a transformers ``HubertModel``).
        adapter: the adapter sizes.
        trainable: ``"adapter"`` (the paper: adapter, prefix and gates), ``"mu-llama-finetune"``
            (MU-LLaMA's finetune phase: LLaMA's norms, biases on q/o/gate/up/down and rank-r LoRA
            on all seven projections) or ``"both"``.
        lora_rank: LoRA rank in the finetune modes (MU-LLaMA: 16; plain ``l2(l1(x))``, no scaling).
        prompt_mode: ``"compat"`` reproduces MU-LLaMA's prompt literally, ``"clean"`` drops its
        quirk.
        carried: tensor families the model holds *frozen* beyond those it trains (``""``,
            ``"adapter"``, ``"mu-llama-finetune"`` or ``"both"``): e.g. a model initialised from
            MU-LLaMA that trains only the adapter carries MU-LLaMA's tuned norms, biases and LoRA
            unchanged. Checkpoints hold the trained and the carried tensors.
        init_from: the checkpoint the trainable tensors started from (recorded, not read).
        sample_rate: the encoder's input rate in Hz (MERT-v1: 24000).
        max_clip_seconds: only the first this many seconds of a clip are encoded (MU-LLaMA: 60).
    """

    llama: str = "meta-llama/Llama-2-7b-hf"
    mert: str = "m-a-p/MERT-v1-330M"
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    trainable: TrainableMode = "adapter"
    lora_rank: int = 16
    prompt_mode: PromptMode = "compat"
    sample_rate: int = 24000
    max_clip_seconds: float = 60.0
    carried: str = ""
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.carried not in ("", *TRAINABLE_MODES):
            raise ValueError(
                f"carried must be '' or one of {TRAINABLE_MODES}, got {self.carried!r}"
            )
        if isinstance(self.adapter, dict):  # from JSON
            object.__setattr__(self, "adapter", AdapterConfig(**self.adapter))
        if self.trainable not in TRAINABLE_MODES:
            raise ValueError(f"trainable must be one of {TRAINABLE_MODES}, got {self.trainable!r}")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {self.prompt_mode!r}")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if self.sample_rate < 1000:
            raise ValueError(f"sample_rate looks wrong: {self.sample_rate} Hz")
        if self.max_clip_seconds <= 0:
            raise ValueError(f"max_clip_seconds must be > 0, got {self.max_clip_seconds}")
        if not self.llama or not self.mert:
            raise ValueError("llama and mert must name a model (an id or a folder)")

    @property
    def trains_adapter(self) -> bool:
        return self.trainable in ("adapter", "both")

    @property
    def trains_finetune(self) -> bool:
        return self.trainable in ("mu-llama-finetune", "both")

    @property
    def stores_adapter(self) -> bool:
        """The adapter, prefix and gates are in the model's checkpoints (trained or carried)."""
        return self.trains_adapter or self.carried in ("adapter", "both")

    @property
    def stores_finetune(self) -> bool:
        """MU-LLaMA's norms, biases and LoRA are in the model (trained or carried)."""
        return self.trains_finetune or self.carried in ("mu-llama-finetune", "both")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MusiSceneConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MusiScene config keys: {unknown}")
        return cls(**data)

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> MusiSceneConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{directory} is not a MusiScene checkpoint: {CONFIG_NAME} is missing"
            )
        return cls.from_dict(json.loads(path.read_text()))
