"""The music-understanding adapter and its injection into a frozen LLaMA.

Definitions (MU-LLaMA, research/B_modeling.md 2.3-2.5):

* ``MusicAdapter``: pooled MERT states (B, L, Dm) -> Conv1d(L -> 1, kernel 1) over the layers ->
  L2 normalisation -> Linear(Dm -> D) -> ``n_blocks`` residual blocks
  ``x + W2(silu(W1 n) * W3 n)`` with ``n = RMSNorm(x)`` and no biases -> plus a learned prefix
  row per injected layer: one adapter token ``a_l`` (B, D) for each of the last K layers.
* Injection (``TunableLinear`` wrapping a layer's ``o_proj``): before the output projection the
  attention output gets ``tanh(g_h) * (W_v a_l)_h`` added at every position, per head h, with the
  layer's frozen value projection W_v and a gate g initialised to zero, so that a fresh model is
  exactly the base LLaMA.
* MU-LLaMA's finetune phase (``TunableLinear`` with ``bias``/``lora_rank``): a zero-initialised
  bias on q, o, gate, up, down and ``W x + l2(l1(x))`` with ``l2`` zero-initialised on all seven
  projections (no alpha scaling).

Which parameters train is decided by :func:`is_trainable` alone; checkpoints hold exactly those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .config import AdapterConfig, MusiSceneConfig

logger = logging.getLogger(__name__)

# MU-LLaMA divides the normalised feature by the sum of modality weights plus 1e-6 (one modality).
MODALITY_WEIGHT = 1.0 / (1.0 + 1e-6)

# HF LLaMA projection -> does MU-LLaMA give it a bias in the finetune phase (wq, wo, w1, w2, w3)?
ATTN_PROJ_BIAS = {"q_proj": True, "k_proj": False, "v_proj": False, "o_proj": True}
MLP_PROJ_BIAS = {"gate_proj": True, "up_proj": True, "down_proj": True}


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight``, computed in float32 (as in MU-LLaMA)."""

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class SwiGLUBlock(nn.Module):
    """Residual ``x + f2(silu(f1(n)) * f3(n))`` with ``n = RMSNorm(x)``; no biases."""

    def __init__(self, dim: int, hidden: int, *, eps: float) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, eps=eps)
        self.f1 = nn.Linear(dim, hidden, bias=False)
        self.f2 = nn.Linear(hidden, dim, bias=False)
        self.f3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm(x)
        return x + self.f2(F.silu(self.f1(n)) * self.f3(n))


class MusicAdapter(nn.Module):
    """Pooled MERT hidden states -> one adapter token per injected LLaMA layer."""

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.agg = nn.Conv1d(config.mert_layers, 1, kernel_size=1)
        self.proj = nn.Linear(config.mert_dim, config.llm_dim)
        self.blocks = nn.ModuleList(
            SwiGLUBlock(config.llm_dim, config.ffn_dim, eps=config.norm_eps)
            for _ in range(config.n_blocks)
        )
        self.prefix = nn.Embedding(config.query_layers, config.llm_dim)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """The music vector before the prefix is added: (B, L, Dm) -> (B, D)."""
        if features.ndim != 3 or features.shape[1:] != (
            self.config.mert_layers,
            self.config.mert_dim,
        ):
            raise ValueError(
                f"expected features of shape (B, {self.config.mert_layers}, "
                f"{self.config.mert_dim}), "
                f"got {tuple(features.shape)}"
            )
        x = self.agg(features.to(self.agg.weight.dtype)).squeeze(1)  # (B, Dm)
        x = F.normalize(x, dim=-1) * MODALITY_WEIGHT  # (B, Dm)
        x = self.proj(x)  # (B, D)
        for block in self.blocks:
            x = block(x)  # (B, D)
        return x

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, L, Dm) pooled encoder states -> (B, K, D) adapter tokens, one per injected layer."""
        music = self.encode(features)  # (B, D)
        return music[:, None, :] + self.prefix.weight[None, :, :]  # (B, K, D)


class TunableLinear(nn.Module):
    """A frozen ``nn.Linear`` with optional zero-init bias, LoRA and gated adapter input.

    ``forward(x) = base(x') + bias + l2(l1(x'))`` where ``x' = x + tanh(gate) * v`` per head when an
    adapter value ``v`` (B, H_kv * Dh) has been set with :meth:`set_adapter_value`.
    """

    def __init__(
        self,
        base: nn.Linear,
        *,
        bias: bool = False,
        lora_rank: int = 0,
        gate_heads: int = 0,
        kv_heads: int = 0,
    ) -> None:
        super().__init__()
        self.base = base
        out_features, in_features = base.weight.shape
        factory = {"device": base.weight.device, "dtype": torch.float32}
        self.bias = nn.Parameter(torch.zeros(out_features, **factory)) if bias else None
        self.lora_l1: nn.Linear | None = None
        self.lora_l2: nn.Linear | None = None
        if lora_rank:
            self.lora_l1 = nn.Linear(in_features, lora_rank, bias=False, **factory)
            self.lora_l2 = nn.Linear(lora_rank, out_features, bias=False, **factory)
            if base.weight.device.type != "meta":
                nn.init.zeros_(self.lora_l2.weight)
        self.gate: nn.Parameter | None = None
        self.gate_heads = gate_heads
        self.kv_heads = kv_heads or gate_heads
        if gate_heads:
            if in_features % gate_heads or gate_heads % self.kv_heads:
                raise ValueError(
                    f"{in_features} features do not split into {gate_heads} heads / {kv_heads} "
                    "kv "
                    "heads"
                )
            self.gate = nn.Parameter(torch.zeros(gate_heads, **factory))
        self._adapter_value: torch.Tensor | None = None

    def set_adapter_value(self, value: torch.Tensor | None) -> None:
        """Set (or clear, with None) the projected adapter token ``W_v a`` (B, H_kv * Dh)."""
        self._adapter_value = value

    def _gated_adapter(self, x: torch.Tensor) -> torch.Tensor:
        v = self._adapter_value
        assert v is not None and self.gate is not None
        batch, in_features = v.shape[0], x.shape[-1]
        head_dim = in_features // self.gate_heads
        v = v.view(batch, self.kv_heads, head_dim)  # (B, Hkv, Dh)
        v = v.repeat_interleave(
            self.gate_heads // self.kv_heads, dim=1
        )  # (B, H, Dh), as HF's repeat_kv
        v = torch.tanh(self.gate)[None, :, None] * v.float()  # (B, H, Dh)
        return x + v.reshape(batch, 1, in_features).to(x.dtype)  # (B, T, H * Dh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._adapter_value is not None:
            x = self._gated_adapter(x)
        y = self.base(x)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        if self.lora_l1 is not None and self.lora_l2 is not None:
            y = y + self.lora_l2(self.lora_l1(x.to(self.lora_l1.weight.dtype))).to(y.dtype)
        return y


def _base_linear(module: nn.Module) -> nn.Linear:
    return module.base if isinstance(module, TunableLinear) else module


def inject(llama: nn.Module, config: MusiSceneConfig) -> list[TunableLinear]:
    """Wrap ``llama``'s projections in place; return the gated ``o_proj`` of the last K layers.

    ``llama`` is a transformers ``LlamaForCausalLM`` (``llama.model.layers[i].self_attn``/``mlp``).
    """
    layers = llama.model.layers
    text_config = llama.config
    n_heads = text_config.num_attention_heads
    n_kv = getattr(text_config, "num_key_value_heads", None) or n_heads
    k = config.adapter.query_layers
    if k > len(layers):
        raise ValueError(f"adapter.query_layers={k} but the LLaMA has only {len(layers)} layers")
    if config.adapter.llm_dim != text_config.hidden_size:
        raise ValueError(
            f"adapter.llm_dim={config.adapter.llm_dim} but the LLaMA's hidden size is "
            f"{text_config.hidden_size}"
        )
    lora = config.lora_rank if config.stores_finetune else 0
    gates: list[TunableLinear] = []
    for index, layer in enumerate(layers):
        gated = index >= len(layers) - k
        for owner, table in ((layer.self_attn, ATTN_PROJ_BIAS), (layer.mlp, MLP_PROJ_BIAS)):
            for name, has_bias in table.items():
                wants_gate = gated and name == "o_proj"
                if not (lora or wants_gate):
                    continue
                base = getattr(owner, name)
                if base.bias is not None and lora and has_bias:
                    raise ValueError(f"{name} already has a bias; MU-LLaMA's finetune adds its own")
                wrapped = TunableLinear(
                    base,
                    bias=bool(lora) and has_bias,
                    lora_rank=lora,
                    gate_heads=n_heads if wants_gate else 0,
                    kv_heads=n_kv if wants_gate else 0,
                )
                setattr(owner, name, wrapped)
                if wants_gate:
                    gates.append(wrapped)
    return gates


def is_trainable(name: str, *, config: MusiSceneConfig) -> bool:
    """The one filter that decides what trains and what a checkpoint holds.

    ``name`` is a parameter name of :class:`~modeling.musiscene.model.MusiScene` (``adapter.*`` or
    ``llama.*``). ``adapter`` mode: the adapter, its prefix and the gates (MU-LLaMA's pretrain
    phase). ``mu-llama-finetune``: LLaMA's norms, the added biases and the LoRA factors.
    """
    if config.trains_adapter and (name.startswith("adapter.") or name.endswith(".gate")):
        return True
    if config.trains_finetune and name.startswith("llama."):
        leaf = name.rsplit(".", 2)
        if ".lora_l" in name or name.endswith(".bias") or "norm" in leaf[-2]:
            return True
    return False


def is_stored(name: str, *, config: MusiSceneConfig) -> bool:
    """What a checkpoint holds: the trainable tensors and the carried ones (``config.carried``)."""
    if is_trainable(name, config=config):
        return True
    if config.stores_adapter and (name.startswith("adapter.") or name.endswith(".gate")):
        return True
    if config.stores_finetune and name.startswith("llama."):
        leaf = name.rsplit(".", 2)
        if ".lora_l" in name or name.endswith(".bias") or "norm" in leaf[-2]:
            return True
    return False


def value_projections(llama: nn.Module, k: int) -> list[nn.Linear]:
    """The frozen W_v of the last ``k`` layers (LoRA excluded, as in MU-LLaMA)."""
    return [_base_linear(layer.self_attn.v_proj) for layer in llama.model.layers[-k:]]


@contextmanager
def adapter_tokens_set(
    gates: list[TunableLinear], values: list[nn.Linear], tokens: torch.Tensor
) -> Iterator[None]:
    """Within the block, layer ``i`` of the last K adds ``tanh(g) * W_v tokens[:, i]``.

    ``tokens``: (B, K, D) from :class:`MusicAdapter`.
    """
    try:
        for i, (gate, w_v) in enumerate(zip(gates, values, strict=True)):
            gate.set_adapter_value(w_v(tokens[:, i].to(w_v.weight.dtype)))  # (B, Hkv * Dh)
        yield
    finally:
        for gate in gates:
            gate.set_adapter_value(None)
