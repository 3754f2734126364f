"""MusiScene: the music adapter and a frozen transformers ``LlamaForCausalLM``.

The MERT encoder is not part of this module: it is frozen, so its pooled hidden states are
computed once (``modeling.musiscene.features``) and the model takes them as ``features``
(B, L, Dm). A checkpoint is a folder with ``musiscene_config.json`` and ``trainable.safetensors``
holding exactly the parameters that :func:`~modeling.musiscene.adapter.is_trainable` selects.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..hub import resolve_pretrained
from .adapter import (
    MusicAdapter,
    adapter_tokens_set,
    inject,
    is_stored,
    is_trainable,
    value_projections,
)
from .config import AdapterConfig, MusiSceneConfig

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase
    from transformers.modeling_outputs import CausalLMOutputWithPast

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "trainable.safetensors"


class MusiScene(nn.Module):
    """Music adapter + frozen LLaMA with gated adapter tokens in its last K layers."""

    def __init__(self, llama: nn.Module, config: MusiSceneConfig) -> None:
        super().__init__()
        self.config = config
        self.llama = llama
        self.llama.requires_grad_(False)
        self.adapter = MusicAdapter(config.adapter).to(device=_device_of(llama))
        self.gates = inject(llama, config)
        self._values = value_projections(llama, config.adapter.query_layers)
        for name, param in self.named_parameters():
            param.requires_grad_(is_trainable(name, config=config))
            if param.requires_grad and param.dtype != torch.float32:
                param.data = param.data.float()  # trainable parameters stay float32 (as MU-LLaMA)

    # ----------------------------------------------------------------- trainable state
    def trainable_names(self) -> list[str]:
        return [
            name for name, _ in self.named_parameters() if is_trainable(name, config=self.config)
        ]

    def stored_names(self) -> list[str]:
        """The tensors a checkpoint holds: the trainable ones and the carried ones."""
        return [name for name, _ in self.named_parameters() if is_stored(name, config=self.config)]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint holds (the trainable ones, and the carried ones if any)."""
        params = dict(self.named_parameters())
        return {name: params[name].detach() for name in self.stored_names()}

    def load_init_state_dict(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Start from another checkpoint's tensors (``--init``): every tensor of ``state`` must
        be one the model stores, with the same shape; returns the stored names ``state`` lacks
        (they keep their fresh initialisation, e.g. zero LoRA when the source had none)."""
        params = dict(self.named_parameters())
        stored = set(self.stored_names())
        unknown = sorted(set(state) - stored)
        if unknown:
            raise KeyError(
                f"the init checkpoint holds tensors this model does not keep: {unknown[:5]}"
                f"{'...' if len(unknown) > 5 else ''}"
            )
        with torch.no_grad():
            for name, tensor in state.items():
                if params[name].shape != tensor.shape:
                    raise ValueError(
                        f"{name}: init checkpoint shape {tuple(tensor.shape)} != model "
                        f"{tuple(params[name].shape)}"
                    )
                params[name].copy_(tensor)
        return sorted(stored - set(state))

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load exactly the stored tensors; any missing or extra key is an error."""
        expected = set(self.stored_names())
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or extra:
            raise KeyError(
                f"checkpoint does not match trainable={self.config.trainable!r}: missing "
                f"{missing[:5]}"
                f"{'...' if len(missing) > 5 else ''}, unexpected "
                f"{extra[:5]}{'...' if len(extra) > 5 else ''}"
            )
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, tensor in state.items():
                if params[name].shape != tensor.shape:
                    raise ValueError(
                        f"{name}: checkpoint shape {tuple(tensor.shape)} != model "
                        f"{tuple(params[name].shape)}"
                    )
                params[name].copy_(tensor)

    # ----------------------------------------------------------------- forward
    def adapter_tokens(self, features: torch.Tensor) -> torch.Tensor:
        """(B, L, Dm) pooled MERT states -> (B, K, D) adapter tokens."""
        return self.adapter(features)

    def forward(
        self,
        *,
        input_ids: torch.Tensor,  # (B, T)
        features: torch.Tensor | None = None,  # (B, L, Dm)
        adapter_tokens: torch.Tensor | None = None,  # (B, K, D), instead of features
        attention_mask: torch.Tensor | None = None,  # (B, T_past + T)
        labels: torch.Tensor | None = None,  # (B, T), -100 where ignored
        **llama_kwargs: object,
    ) -> CausalLMOutputWithPast:
        """Run LLaMA with the adapter tokens injected; returns its ``CausalLMOutputWithPast``."""
        if adapter_tokens is None:
            if features is None:
                raise ValueError("pass features (B, L, Dm) or adapter_tokens (B, K, D)")
            adapter_tokens = self.adapter_tokens(features)
        if adapter_tokens.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"batch of {adapter_tokens.shape[0]} clips for {input_ids.shape[0]} sequences"
            )
        with adapter_tokens_set(self.gates, self._values, adapter_tokens):
            return self.llama(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, **llama_kwargs
            )

    # ----------------------------------------------------------------- checkpoints
    def save_checkpoint(self, directory: Path | str) -> Path:
        """Write the config and the trainable tensors (safetensors) to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        state = {k: v.contiguous().cpu() for k, v in self.trainable_state_dict().items()}
        save_file(
            state,
            str(directory / WEIGHTS_NAME),
            metadata={"format": "pt", "trainable": self.config.trainable},
        )
        return directory


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def load_llama(
    name_or_path: str, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> nn.Module:
    """The frozen ``LlamaForCausalLM`` from a local folder or cache (never downloaded)."""
    from transformers import AutoModelForCausalLM

    path = resolve_pretrained(name_or_path, kind="LLaMA language model")
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    return model.to(device).eval()


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """The LLaMA tokenizer that belongs to ``name_or_path`` (same resolution as the model)."""
    from transformers import AutoTokenizer

    path = resolve_pretrained(name_or_path, kind="LLaMA tokenizer")
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def adapter_config_for(
    llama_config: PretrainedConfig,
    *,
    mert_layers: int,
    mert_dim: int,
    query_layers: int = 20,
    ffn_mult: int = 4,
) -> AdapterConfig:
    """MU-LLaMA's adapter sizes for a given LLaMA config and encoder (query layers capped at
    depth)."""
    return AdapterConfig(
        mert_layers=mert_layers,
        mert_dim=mert_dim,
        llm_dim=llama_config.hidden_size,
        ffn_dim=ffn_mult * llama_config.hidden_size,
        query_layers=min(query_layers, llama_config.num_hidden_layers),
    )


def build_musiscene(
    config: MusiSceneConfig,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int | None = 0,
) -> MusiScene:
    """A fresh MusiScene around the frozen LLaMA named in ``config`` (adapter seeded by
    ``seed``)."""
    llama = load_llama(config.llama, dtype=dtype, device=device)
    if seed is not None:
        torch.manual_seed(seed)
    return MusiScene(llama, config)


def load_musiscene(
    checkpoint: Path | str,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    llama: str | None = None,
) -> MusiScene:
    """Rebuild a trained MusiScene from a checkpoint folder (``llama`` overrides the stored id)."""
    checkpoint = resolve_pretrained(str(checkpoint), kind="MusiScene checkpoint")
    config = MusiSceneConfig.load(checkpoint)
    if llama is not None:
        config = replace(config, llama=llama)
    weights = checkpoint / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{checkpoint} has no {WEIGHTS_NAME}")
    model = build_musiscene(config, dtype=dtype, device=device, seed=None)
    model.load_trainable_state_dict(load_file(str(weights), device=str(device)))
    model.eval()
    return model
