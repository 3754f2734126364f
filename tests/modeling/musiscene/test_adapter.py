"""The adapter, its injection into a frozen LLaMA and the trainable-parameter filter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from modeling.musiscene.adapter import MusicAdapter, TunableLinear
from modeling.musiscene.config import AdapterConfig, MusiSceneConfig
from modeling.musiscene.model import MusiScene, adapter_config_for, load_llama

# research/B_modeling.md 2.3 and 2.5: MU-LLaMA's adapter and finetune-phase parameter counts.
MU_LLAMA_ADAPTER_PARAMS = 608_272_410
MU_LLAMA_FINETUNE_PARAMS = 41_340_928
LLAMA2_7B = dict(
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    max_position_embeddings=4096,
)


def _tiny_config(
    llama_path: Path, trainable: str = "adapter", query_layers: int = 2
) -> MusiSceneConfig:
    llama = load_llama(str(llama_path))
    adapter = adapter_config_for(
        llama.config, mert_layers=3, mert_dim=32, query_layers=query_layers
    )
    return MusiSceneConfig(llama=str(llama_path), mert="tiny", adapter=adapter, trainable=trainable)


def _meta_model(trainable: str) -> MusiScene:
    with torch.device("meta"):
        llama = LlamaForCausalLM(LlamaConfig(**LLAMA2_7B))
        return MusiScene(llama, MusiSceneConfig(trainable=trainable))


def test_it_matches_mu_llama_adapter_parameter_count_on_meta() -> None:
    with torch.device("meta"):
        adapter = MusicAdapter(AdapterConfig())
    assert sum(p.numel() for p in adapter.parameters()) == MU_LLAMA_ADAPTER_PARAMS
    model = _meta_model("adapter")
    trainable = dict(model.named_parameters())
    n = sum(trainable[k].numel() for k in model.trainable_names())
    # the adapter plus one tanh gate per head in each of the last 20 layers
    assert n == MU_LLAMA_ADAPTER_PARAMS + 20 * 32
    assert all(p.device.type == "meta" for p in model.parameters())


def test_it_matches_mu_llama_finetune_parameter_count_on_meta() -> None:
    model = _meta_model("mu-llama-finetune")
    params = dict(model.named_parameters())
    names = model.trainable_names()
    assert sum(params[k].numel() for k in names) == MU_LLAMA_FINETUNE_PARAMS
    assert not any(k.startswith("adapter.") or k.endswith(".gate") for k in names)
    both = _meta_model("both")
    assert len(both.trainable_names()) == len(names) + len(model.adapter.state_dict()) + 20


def test_it_gives_the_base_logits_while_gates_are_zero(tiny_llama: Path) -> None:
    config = _tiny_config(tiny_llama, trainable="both")
    base = load_llama(str(tiny_llama))
    model = MusiScene(load_llama(str(tiny_llama)), config)
    ids = torch.randint(5, 100, (2, 9))
    features = torch.randn(2, 3, 32)
    with torch.no_grad():
        expected = base(input_ids=ids).logits
        got = model(input_ids=ids, features=features).logits
        assert torch.equal(got, expected)
        # opening one gate changes the output: the injection is really wired in
        model.gates[-1].gate.fill_(0.5)
        assert not torch.allclose(model(input_ids=ids, features=features).logits, expected)
        # and the adapter token matters only through that gate, only for its own clip
        other = features.clone()
        other[1] += 1.0
        out = model(input_ids=ids, features=other).logits
        assert torch.allclose(out[0], model(input_ids=ids, features=features).logits[0])


def test_it_trains_only_what_the_setting_names(tiny_llama: Path) -> None:
    model = MusiScene(load_llama(str(tiny_llama)), _tiny_config(tiny_llama, trainable="adapter"))
    grads = {n for n, p in model.named_parameters() if p.requires_grad}
    assert grads == set(model.trainable_names())
    assert {n.split(".")[0] for n in grads} == {"adapter", "llama"}
    assert all(n.startswith("adapter.") or n.endswith("o_proj.gate") for n in grads)
    assert sum(n.endswith(".gate") for n in grads) == 2
    ft = MusiScene(
        load_llama(str(tiny_llama)), _tiny_config(tiny_llama, trainable="mu-llama-finetune")
    )
    ft_names = set(ft.trainable_names())
    assert "llama.model.layers.0.self_attn.q_proj.bias" in ft_names
    assert (
        "llama.model.layers.0.self_attn.k_proj.bias" not in ft_names
    )  # MU-LLaMA: no bias on wk, wv
    assert "llama.model.layers.1.mlp.down_proj.lora_l2.weight" in ft_names
    assert "llama.model.norm.weight" in ft_names
    assert not any("embed_tokens" in n or "lm_head" in n for n in ft_names)


def test_it_repeats_kv_heads_for_the_gate_like_grouped_attention() -> None:
    base = torch.nn.Linear(8, 8, bias=False)
    layer = TunableLinear(base, gate_heads=4, kv_heads=2)
    with torch.no_grad():
        layer.gate.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    value = torch.arange(4.0).view(1, 4)  # two kv heads of width 2: [0, 1] and [2, 3]
    layer.set_adapter_value(value)
    shifted = layer._gated_adapter(torch.zeros(1, 1, 8))
    t = torch.tanh(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    expected = torch.stack(
        [
            t[0] * torch.tensor([0.0, 1.0]),
            t[1] * torch.tensor([0.0, 1.0]),
            t[2] * torch.tensor([2.0, 3.0]),
            t[3] * torch.tensor([2.0, 3.0]),
        ]
    ).view(1, 1, 8)
    assert torch.allclose(shifted, expected)


def test_it_rejects_inconsistent_configs() -> None:
    with pytest.raises(ValueError, match="trainable"):
        MusiSceneConfig(trainable="everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="query_layers"):
        AdapterConfig(query_layers=0)
    with pytest.raises(ValueError, match="prompt_mode"):
        MusiSceneConfig(prompt_mode="fancy")  # type: ignore[arg-type]
