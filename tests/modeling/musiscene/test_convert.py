"""MU-LLaMA checkpoint.pth -> MusiScene: same logits as MU-LLaMA's own (Meta-layout) computation."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from modeling.musiscene.convert import convert_mu_llama_checkpoint, rope_permute
from modeling.musiscene.model import load_llama, load_musiscene

N_STATES, MERT_DIM, RANK = 3, 32, 4


def to_meta(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of transformers' q/k permutation: half-split rows -> interleaved rotary pairs."""
    out = w.shape[0]
    return w.reshape(n_heads, 2, out // n_heads // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def mu_llama_state(hf: torch.nn.Module, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny state dict in MU-LLaMA's key layout around the tiny LLaMA's base weights."""
    g = torch.Generator().manual_seed(seed)
    cfg = hf.config
    d, h, ff, n = (
        cfg.hidden_size,
        cfg.num_attention_heads,
        cfg.intermediate_size,
        cfg.num_hidden_layers,
    )
    r = lambda *s, scale=0.1: torch.randn(*s, generator=g) * scale  # noqa: E731
    hs = hf.state_dict()
    sd: dict[str, torch.Tensor] = {
        "mu_mert_agg.weight": r(1, N_STATES, 1, scale=1.0),
        "mu_mert_agg.bias": r(1),
        "mu_mert_proj.weight": r(d, MERT_DIM),
        "mu_mert_proj.bias": r(d),
        "prefix_query.weight": r(2, d, scale=1.0),
        "llama.tok_embeddings.weight": hs["model.embed_tokens.weight"],
        "llama.output.weight": hs["lm_head.weight"],
        "llama.norm.weight": 1 + r(d),
        "mert_model.encoder.layers.0.attention.k_proj.weight": r(4, 4),
    }
    for i in (1, 2, 3):
        sd |= {
            f"mu_mert_norm_{i}.weight": 1 + r(d),
            f"mu_mert_f1_{i}.weight": r(4 * d, d),
            f"mu_mert_f2_{i}.weight": r(d, 4 * d),
            f"mu_mert_f3_{i}.weight": r(4 * d, d),
        }
    for j in range(n):
        p, hp = f"llama.layers.{j}.", f"model.layers.{j}."
        sd |= {
            p + "attention.wq.weight": to_meta(hs[hp + "self_attn.q_proj.weight"], h),
            p + "attention.wk.weight": to_meta(hs[hp + "self_attn.k_proj.weight"], h),
            p + "attention.wv.weight": hs[hp + "self_attn.v_proj.weight"],
            p + "attention.wo.weight": hs[hp + "self_attn.o_proj.weight"],
            p + "feed_forward.w1.weight": hs[hp + "mlp.gate_proj.weight"],
            p + "feed_forward.w2.weight": hs[hp + "mlp.down_proj.weight"],
            p + "feed_forward.w3.weight": hs[hp + "mlp.up_proj.weight"],
            p + "attention_norm.weight": 1 + r(d),
            p + "ffn_norm.weight": 1 + r(d),
            p + "attention.gate": r(1, h, 1, 1, scale=1.0),
            p + "attention.wq.bias": r(d),
            p + "attention.wo.bias": r(d),
            p + "feed_forward.w1.bias": r(ff),
            p + "feed_forward.w2.bias": r(d),
            p + "feed_forward.w3.bias": r(ff),
        }
        for name, (i, o) in {"wq": (d, d), "wk": (d, d), "wv": (d, d), "wo": (d, d)}.items():
            sd |= {
                p + f"attention.lora_{name}_l1.weight": r(RANK, i),
                p + f"attention.lora_{name}_l2.weight": r(o, RANK),
            }
        for name, (i, o) in {"w1": (d, ff), "w2": (ff, d), "w3": (d, ff)}.items():
            sd |= {
                p + f"feed_forward.lora_{name}_l1.weight": r(RANK, i),
                p + f"feed_forward.lora_{name}_l2.weight": r(o, RANK),
            }
    return sd


def rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def reference_logits(
    sd: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    feats: torch.Tensor,
    *,
    n_heads: int,
    eps: float,
    query_layers: int,
) -> torch.Tensor:
    """MU-LLaMA's forward written out from its equations (Meta layout, complex rotary pairs)."""
    lin = lambda x, p, lora=None, bias=None: (  # noqa: E731
        x @ sd[p + ".weight"].T
        + (sd[bias] if bias else 0)
        + ((x @ sd[lora + "_l1.weight"].T) @ sd[lora + "_l2.weight"].T if lora else 0)
    )
    a = F.conv1d(feats, sd["mu_mert_agg.weight"], sd["mu_mert_agg.bias"])[:, 0]  # (B, Dm)
    a = F.normalize(a, dim=-1) / (1 + 1e-6) @ sd["mu_mert_proj.weight"].T + sd["mu_mert_proj.bias"]
    for i in (1, 2, 3):
        nrm = rms(a, sd[f"mu_mert_norm_{i}.weight"], 1e-6)
        a = (
            a
            + (
                F.silu(nrm @ sd[f"mu_mert_f1_{i}.weight"].T)
                * (nrm @ sd[f"mu_mert_f3_{i}.weight"].T)
            )
            @ sd[f"mu_mert_f2_{i}.weight"].T
        )
    b, t = tokens.shape
    h = sd["llama.tok_embeddings.weight"][tokens]
    d = h.shape[-1]
    dh = d // n_heads
    freqs = 1.0 / (10000.0 ** (torch.arange(0, dh, 2).float() / dh))
    rot = torch.polar(
        torch.ones(t, dh // 2), torch.outer(torch.arange(t).float(), freqs)
    )  # (T, Dh/2)
    rope = lambda x: torch.view_as_real(  # noqa: E731
        torch.view_as_complex(x.reshape(b, t, n_heads, dh // 2, 2)) * rot[None, :, None]
    ).reshape(b, t, n_heads, dh)
    n_layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("llama.layers."))
    mask = torch.full((t, t), float("-inf")).triu(1)
    for j in range(n_layers):
        p = f"llama.layers.{j}."
        x = rms(h, sd[p + "attention_norm.weight"], eps)
        q = rope(
            lin(x, p + "attention.wq", p + "attention.lora_wq", p + "attention.wq.bias").view(
                b, t, n_heads, dh
            )
        )
        k = rope(lin(x, p + "attention.wk", p + "attention.lora_wk").view(b, t, n_heads, dh))
        v = lin(x, p + "attention.wv", p + "attention.lora_wv").view(b, t, n_heads, dh)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        out = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(dh) + mask, -1) @ v  # (B, H, T, Dh)
        if j >= n_layers - query_layers:
            token = a + sd["prefix_query.weight"][j - (n_layers - query_layers)]  # (B, D)
            av = (token @ sd[p + "attention.wv.weight"].T).view(b, n_heads, 1, dh)
            out = out + sd[p + "attention.gate"].tanh() * av
        out = out.transpose(1, 2).reshape(b, t, d)
        h = h + lin(out, p + "attention.wo", p + "attention.lora_wo", p + "attention.wo.bias")
        x = rms(h, sd[p + "ffn_norm.weight"], eps)
        m = F.silu(
            lin(x, p + "feed_forward.w1", p + "feed_forward.lora_w1", p + "feed_forward.w1.bias")
        ) * lin(x, p + "feed_forward.w3", p + "feed_forward.lora_w3", p + "feed_forward.w3.bias")
        h = h + lin(
            m, p + "feed_forward.w2", p + "feed_forward.lora_w2", p + "feed_forward.w2.bias"
        )
    return rms(h, sd["llama.norm.weight"], eps) @ sd["llama.output.weight"].T


def test_it_permutes_rows_like_transformers_llama_conversion() -> None:
    # transformers' convert_llama_weights_to_hf: w.view(H, D/H/2, 2, D).transpose(1, 2).reshape(D,
    # D)
    w = torch.arange(16.0).view(8, 2)
    expected = w.view(2, 2, 2, 2).transpose(1, 2).reshape(8, 2)
    assert torch.equal(rope_permute(w, 2), expected)
    assert torch.equal(rope_permute(to_meta(w, 2), 2), w)
    assert rope_permute(torch.arange(8.0), 2).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_it_converts_mu_llama_checkpoints_to_the_same_logits(
    tiny_llama: Path, tiny_mert: Path, tmp_path: Path
) -> None:
    hf = load_llama(str(tiny_llama))
    sd = mu_llama_state(hf)
    src = tmp_path / "checkpoint.pth"
    torch.save(
        {"model": sd, "optimizer": {}, "epoch": 3, "args": argparse.Namespace(blr=1e-3)}, src
    )
    out = convert_mu_llama_checkpoint(
        src, tmp_path / "converted", llama=str(tiny_llama), mert=str(tiny_mert)
    )
    model = load_musiscene(out)
    assert (
        model.config.trainable == "both"
        and model.config.prompt_mode == "compat"
        and model.config.lora_rank == RANK
    )
    tokens = torch.randint(3, 200, (2, 7), generator=torch.Generator().manual_seed(1))
    feats = torch.randn(2, N_STATES, MERT_DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model(input_ids=tokens, features=feats).logits
    expected = reference_logits(
        sd,
        tokens,
        feats,
        n_heads=hf.config.num_attention_heads,
        eps=hf.config.rms_norm_eps,
        query_layers=2,
    )
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()


def test_it_rejects_files_that_are_not_mu_llama(tmp_path: Path) -> None:
    torch.save({"model": {"something.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="MU-LLaMA"):
        convert_mu_llama_checkpoint(tmp_path / "other.pth", tmp_path / "out", llama="x", mert="y")
    with pytest.raises(FileNotFoundError, match="checkpoint.pth"):
        convert_mu_llama_checkpoint(tmp_path / "missing.pth", tmp_path / "out", llama="x", mert="y")
