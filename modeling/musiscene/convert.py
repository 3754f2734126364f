"""Convert MU-LLaMA's published ``checkpoint.pth`` into a MusiScene checkpoint folder.

``python -m modeling.musiscene.convert checkpoint.pth OUT --llama DIR --mert DIR``

MU-LLaMA (``llama/llama_adapter.py``) saves its whole module: the adapter (``mu_mert_agg``,
``mu_mert_proj``, ``mu_mert_{norm,f1,f2,f3}_{i}``, ``prefix_query``), its LLaMA in Meta's layout
(``llama.layers.{j}.attention.{wq,wk,wv,wo}``, ``feed_forward.{w1,w2,w3}``, the norms, zero-init
``gate`` per layer, and in the finetune phase biases and ``lora_*_l{1,2}``) and MERT. We take the
adapter, the gates of the last K layers and the finetune tensors (norms, biases, LoRA); the frozen
LLaMA comes from a transformers checkpoint. Meta's q/k rows interleave the rotary pairs while
transformers' halve them, so every tensor whose rows index q or k outputs (``wq`` bias, the
``l2`` factor of q and k LoRA) is permuted as transformers' own LLaMA conversion permutes ``wq``.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from .config import AdapterConfig, MusiSceneConfig, TrainableMode
from .model import WEIGHTS_NAME

logger = logging.getLogger(__name__)

ATTN = {"wq": "q_proj", "wk": "k_proj", "wv": "v_proj", "wo": "o_proj"}
FFN = {"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj"}
NORMS = {"attention_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
_LAYER = re.compile(r"^llama\.layers\.(\d+)\.(.+)$")


def rope_permute(rows: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta's interleaved rotary row order -> transformers' half-split order, per head.

    Works on weights (out, in) and on biases (out,): row ``h*Dh + 2i + c`` moves to ``h*Dh + c*Dh/2
    + i``.
    """
    out = rows.shape[0]
    rest = rows.shape[1:]
    return rows.reshape(n_heads, out // n_heads // 2, 2, *rest).transpose(1, 2).reshape(out, *rest)


def load_mu_llama_state(path: Path | str) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of a MU-LLaMA ``checkpoint.pth`` (memory-mapped, weights only)."""
    import argparse as _argparse

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MU-LLaMA checkpoint not found: {path} (it is `checkpoint.pth` in the "
            "mu-llama/MU-LLaMA repository on the Hugging Face hub)"
        )
    with torch.serialization.safe_globals(
        [_argparse.Namespace]
    ):  # MU-LLaMA pickles its argparse args
        blob = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or "mu_mert_proj.weight" not in state:
        raise ValueError(
            f"{path} does not look like a MU-LLaMA checkpoint (no mu_mert_proj.weight)"
        )
    return state


def adapter_config_from_state(state: dict[str, torch.Tensor]) -> AdapterConfig:
    proj = state["mu_mert_proj.weight"]  # (D, Dm)
    n_blocks = sum(1 for k in state if re.fullmatch(r"mu_mert_norm_\d+\.weight", k))
    return AdapterConfig(
        mert_layers=state["mu_mert_agg.weight"].shape[1],
        mert_dim=proj.shape[1],
        llm_dim=proj.shape[0],
        ffn_dim=state["mu_mert_f1_1.weight"].shape[0] if n_blocks else 4 * proj.shape[0],
        n_blocks=n_blocks,
        query_layers=state["prefix_query.weight"].shape[0],
    )


def convert_mu_llama_state(
    state: dict[str, torch.Tensor], *, trainable: TrainableMode = "both"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """MU-LLaMA names -> MusiScene parameter names; returns (converted, skipped keys)."""
    adapter = adapter_config_from_state(state)
    layers = sorted({int(m.group(1)) for k in state if (m := _LAYER.match(k))})
    n_layers = layers[-1] + 1 if layers else 0
    first_gated = n_layers - adapter.query_layers
    gate = next((v for k, v in state.items() if k.endswith("attention.gate")), None)
    if gate is None:
        raise ValueError("no per-layer gates (llama.layers.*.attention.gate) in the checkpoint")
    n_heads = gate.shape[1]
    want_adapter = trainable in ("adapter", "both")
    want_finetune = trainable in ("mu-llama-finetune", "both")
    out: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    for key, value in state.items():
        new = None
        if key.startswith(("mu_mert_", "prefix_query.")):
            if want_adapter:
                new = _adapter_name(key)
        elif key == "llama.norm.weight":
            new = "llama.model.norm.weight" if want_finetune else None
        elif m := _LAYER.match(key):
            j, rest = int(m.group(1)), m.group(2)
            new, value = _layer_tensor(
                j,
                rest,
                value,
                n_heads=n_heads,
                first_gated=first_gated,
                want_adapter=want_adapter,
                want_finetune=want_finetune,
            )
        if new is None:
            skipped.append(key)
        else:
            out[new] = value.detach().to(torch.float32).contiguous()
    return out, skipped


def _adapter_name(key: str) -> str:
    if key == "prefix_query.weight":
        return "adapter.prefix.weight"
    if key.startswith("mu_mert_agg."):
        return "adapter.agg." + key.split(".", 1)[1]
    if key.startswith("mu_mert_proj."):
        return "adapter.proj." + key.split(".", 1)[1]
    m = re.fullmatch(r"mu_mert_(norm|f1|f2|f3)_(\d+)\.(weight|bias)", key)
    if not m:
        raise ValueError(f"unknown MU-LLaMA adapter key {key!r}")
    return f"adapter.blocks.{int(m.group(2)) - 1}.{m.group(1)}.{m.group(3)}"


def _layer_tensor(
    j: int,
    rest: str,
    value: torch.Tensor,
    *,
    n_heads: int,
    first_gated: int,
    want_adapter: bool,
    want_finetune: bool,
) -> tuple[str | None, torch.Tensor]:
    prefix = f"llama.model.layers.{j}"
    if rest == "attention.gate":
        if want_adapter and j >= first_gated:
            return f"{prefix}.self_attn.o_proj.gate", value.reshape(-1)  # (1, H, 1, 1) -> (H,)
        return None, value
    if not want_finetune:
        return None, value
    part, _, leaf = rest.partition(".")
    if part in NORMS and leaf == "weight":
        return f"{prefix}.{NORMS[part]}.weight", value
    table, owner = (
        (ATTN, "self_attn")
        if part == "attention"
        else (FFN, "mlp")
        if part == "feed_forward"
        else ({}, "")
    )
    m = re.fullmatch(r"(w[qkvo123])\.bias", leaf)
    if m and m.group(1) in table:
        value = rope_permute(value, n_heads) if m.group(1) == "wq" else value
        return f"{prefix}.{owner}.{table[m.group(1)]}.bias", value
    m = re.fullmatch(r"lora_(w[qkvo123])_(l[12])\.weight", leaf)
    if m and m.group(1) in table:
        if m.group(2) == "l2" and m.group(1) in ("wq", "wk"):
            value = rope_permute(value, n_heads)
        return f"{prefix}.{owner}.{table[m.group(1)]}.lora_{m.group(2)}.weight", value
    return None, value  # frozen base weights: they come from the transformers LLaMA


def convert_mu_llama_checkpoint(
    src: Path | str,
    out_dir: Path | str,
    *,
    llama: str,
    mert: str,
    trainable: TrainableMode = "both",
) -> Path:
    """Write ``out_dir`` (config + trainable safetensors) from MU-LLaMA's ``checkpoint.pth``."""
    state = load_mu_llama_state(src)
    converted, skipped = convert_mu_llama_state(state, trainable=trainable)
    lora = next((v for k, v in state.items() if k.endswith("lora_wq_l1.weight")), None)
    if trainable != "adapter" and lora is None:
        raise ValueError(
            "the checkpoint has no LoRA tensors (pretrain phase?): convert with trainable='adapter'"
        )
    config = MusiSceneConfig(
        llama=llama,
        mert=mert,
        adapter=adapter_config_from_state(state),
        trainable=trainable,
        lora_rank=lora.shape[0] if lora is not None else 16,
        prompt_mode="compat",
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir)
    save_file(
        converted,
        str(out_dir / WEIGHTS_NAME),
        metadata={"format": "pt", "source": "MU-LLaMA checkpoint.pth"},
    )
    logger.info(
        "converted %d tensors; left %d (frozen LLaMA/MERT weights and unused gates)",
        len(converted),
        len(skipped),
    )
    return out_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m modeling.musiscene.convert",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", type=Path, help="MU-LLaMA checkpoint.pth")
    p.add_argument("out_dir", type=Path, help="folder to write the converted checkpoint to")
    p.add_argument(
        "--llama", default="meta-llama/Llama-2-7b-hf", help="the transformers LLaMA to pair it with"
    )
    p.add_argument("--mert", default="m-a-p/MERT-v1-330M", help="MERT id or folder (local only)")
    p.add_argument(
        "--trainable",
        choices=("adapter", "mu-llama-finetune", "both"),
        default="both",
        help="which of the checkpoint's trained weights to keep",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(
        convert_mu_llama_checkpoint(
            args.checkpoint,
            args.out_dir,
            llama=args.llama,
            mert=args.mert,
            trainable=args.trainable,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
