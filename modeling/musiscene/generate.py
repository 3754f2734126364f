"""Batched answer generation from MusiScene (left-padded prompts, KV cache).

Sampling follows MU-LLaMA's ``sample_top_p``: softmax(logits / T), keep the most probable tokens
whose cumulative probability before them is at most ``top_p``, renormalise, draw; ``T = 0`` is
greedy. MU-LLaMA's defaults: temperature 0.6, top_p 0.8, up to 512 new tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .config import PromptMode
from .model import MusiScene
from .prompts import encode_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from transformers.utils import ModelOutput


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.6
    top_p: float = 0.8
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


def sample_top_p(
    probs: torch.Tensor, top_p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, V) probabilities -> (B,) token ids by nucleus sampling (MU-LLaMA's rule)."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(before > top_p, 0.0)
    sorted_probs = sorted_probs / sorted_probs.sum(dim=-1, keepdim=True)
    pick = torch.multinomial(sorted_probs, 1, generator=generator)  # (B, 1)
    return order.gather(-1, pick).squeeze(-1)


def _cache_argument(model: MusiScene) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); accept either."""
    params = inspect.signature(model.llama.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(output: ModelOutput) -> object:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


@torch.no_grad()
def generate_answers(
    model: MusiScene,
    tokenizer: PreTrainedTokenizerBase,
    *,
    features: torch.Tensor,  # (B, L, Dm)
    questions: Sequence[str],
    sampling: SamplingConfig | None = None,
    prompt_mode: PromptMode | None = None,
    seed: int | None = None,
) -> list[str]:
    """One answer per clip; ``questions[i]`` is asked about ``features[i]`` (MU-LLaMA's sampling by
    default)."""
    sampling = sampling or SamplingConfig()
    if len(questions) != features.shape[0]:
        raise ValueError(f"{len(questions)} questions for {features.shape[0]} clips")
    mode = prompt_mode or model.config.prompt_mode
    device = next(model.adapter.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    prompts = [encode_prompt(tokenizer, q, mode=mode) for q in questions]
    batch, width = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((batch, width), pad, dtype=torch.long, device=device)  # (B, T), left-padded
    mask = torch.zeros((batch, width), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, device=device)
        mask[i, width - len(p) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    tokens = model.adapter_tokens(features.to(device))  # (B, K, D), computed once
    out = model(
        input_ids=ids,
        adapter_tokens=tokens,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
    )
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    generated: list[torch.Tensor] = []
    cache_arg = _cache_argument(model)
    for _ in range(sampling.max_new_tokens):
        logits = out.logits[:, -1].float()  # (B, V)
        if sampling.temperature > 0:
            nxt = sample_top_p(
                torch.softmax(logits / sampling.temperature, -1),
                sampling.top_p,
                generator=generator,
            )
        else:
            nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)  # (B,)
        generated.append(nxt)
        done |= nxt == eos
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions[:, -1:] + 1
        out = model(
            input_ids=nxt[:, None],
            adapter_tokens=tokens,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{cache_arg: _cache_of(out)},
        )
    answers = []
    rows = torch.stack(generated, 1).tolist() if generated else [[] for _ in range(batch)]
    for row in rows:
        if eos in row:
            row = row[: row.index(eos)]
        answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return answers
