"""MusiScene training throughput.

    python benchmarks/training.py            # CPU part always; GPU part when CUDA is present
    python benchmarks/training.py --gpu-only --batch-size 8 --seq-len 320

CPU, tiny models: samples per second of training steps that read cached MERT features against
steps that decode and re-encode every clip (10-s clips), and their ratio.

GPU, real geometry with random weights in bf16 (nothing is downloaded): LLaMA-2-7B
(32 layers, 4096 wide, 11008 FFN, 32000 tokens) + MU-LLaMA's adapter (608 M) trained in
``adapter`` mode with AdamW, and MERT-v1-330M (24 layers, 1024 wide) encoding 10-s clips.
Prints samples per second, peak memory and the projected time of the paper's run (20 epochs of
~2,700 clips; the paper: ~5 h on 4 A100s; our target: under 30 minutes on one H100).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling.musiscene.config import AdapterConfig, MusiSceneConfig  # noqa: E402
from modeling.musiscene.model import MusiScene  # noqa: E402

PAPER_SAMPLES = 20 * 2700  # 20 epochs of ~80 % of 3,371 clips
TARGET_S = 30 * 60


def _batch(
    vocab: int, batch: int, seq: int, n_prompt: int, device: torch.device
) -> dict[str, torch.Tensor]:
    ids = torch.randint(3, vocab, (batch, seq), device=device)
    labels = ids.clone()
    labels[:, :n_prompt] = -100
    return {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids)}


def cpu_part(steps: int) -> dict[str, float]:
    import soundfile as sf

    from modeling.audio import load_audio
    from modeling.musiscene.features import FeatureCache, MertEncoder, encode_files
    from modeling.musiscene.model import adapter_config_for, build_musiscene
    from modeling.musiscene.tiny_models import build_tiny_llama, build_tiny_mert

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        llama_dir, mert_dir = build_tiny_llama(root / "llama"), build_tiny_mert(root / "mert")
        rng = np.random.default_rng(0)
        clips = []
        for i in range(8):
            path = root / f"clip{i}.wav"
            sf.write(
                path, (0.3 * rng.standard_normal(10 * 44100)).astype(np.float32), 44100
            )  # 10 s at 44.1 kHz
            clips.append(path)
        encoder = MertEncoder(str(mert_dir))
        from transformers import AutoConfig

        cfg = MusiSceneConfig(
            llama=str(llama_dir),
            mert=str(mert_dir),
            adapter=adapter_config_for(
                AutoConfig.from_pretrained(llama_dir),
                mert_layers=encoder.n_states,
                mert_dim=encoder.dim,
                query_layers=2,
            ),
        )
        model = build_musiscene(cfg)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        batch = _batch(model.llama.config.vocab_size, 8, 96, 80, torch.device("cpu"))
        cache = FeatureCache(root / "cache", encoder_id=encoder.encoder_id)
        encode_files(clips, encoder=encoder, cache=cache)

        def step(features: torch.Tensor) -> None:
            model(**batch, features=features).loss.backward()
            opt.step()
            opt.zero_grad()

        step(encode_files(clips, encoder=encoder, cache=cache))  # warm-up
        t = time.perf_counter()
        for _ in range(steps):
            step(encode_files(clips, encoder=encoder, cache=cache))
        cached = steps * 8 / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(max(1, steps // 4)):
            feats = torch.stack(
                [encoder.encode_waveform(load_audio(c, sample_rate=24000)) for c in clips]
            )
            step(feats)
        fresh = max(1, steps // 4) * 8 / (time.perf_counter() - t)
    return {
        "cpu_cached_samples_per_s": cached,
        "cpu_reencode_samples_per_s": fresh,
        "cpu_speedup": cached / fresh,
    }


def gpu_part(
    *, batch_size: int, seq_len: int, steps: int, trainable: str, small: bool
) -> dict[str, float]:
    from transformers import HubertConfig, HubertModel, LlamaConfig, LlamaForCausalLM

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if small:  # a smoke test of this code path on the CPU
        llama_cfg = LlamaConfig(
            vocab_size=500,
            hidden_size=64,
            intermediate_size=172,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
        mert_cfg = HubertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16,) * 7,
            do_stable_layer_norm=True,
            feat_extract_norm="group",
            conv_bias=False,
            feat_proj_layer_norm=True,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        )
        adapter = AdapterConfig(mert_layers=3, mert_dim=32, llm_dim=64, ffn_dim=256, query_layers=2)
    else:  # LLaMA-2-7B and MERT-v1-330M geometry
        llama_cfg = LlamaConfig(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
            max_position_embeddings=4096,
            rms_norm_eps=1e-5,
        )
        mert_cfg = HubertConfig(
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
            conv_dim=(512,) * 7,
            conv_kernel=(10, 3, 3, 3, 3, 2, 2),
            conv_stride=(5, 2, 2, 2, 2, 2, 2),
            do_stable_layer_norm=True,
            feat_extract_norm="group",
            conv_bias=False,
            feat_proj_layer_norm=True,
            num_conv_pos_embeddings=128,
            num_conv_pos_embedding_groups=16,
        )
        adapter = AdapterConfig()
    llm_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        llama = LlamaForCausalLM(llama_cfg).to(
            llm_dtype
        )  # random weights, built in place on the device
    model = MusiScene(llama, MusiSceneConfig(adapter=adapter, trainable=trainable))  # type: ignore[arg-type]
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()  # count training, not the float32 initialisation
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    batch = _batch(llama_cfg.vocab_size, batch_size, seq_len, min(80, seq_len // 2), device)
    feats = torch.randn(batch_size, adapter.mert_layers, adapter.mert_dim, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(**batch, features=feats).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    train_sps = steps * batch_size / (time.perf_counter() - t)
    peak_train = (
        torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    )
    opt = model = llama = None  # free the GPU memory before the encoder runs
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    with torch.device(device):
        mert = HubertModel(mert_cfg).eval()
    wave = torch.randn(1, 10 * 24000, device=device)  # one 10-s clip at 24 kHz
    with torch.no_grad():
        mert(wave, output_hidden_states=True)
        sync()
        t = time.perf_counter()
        n_clips = max(2, steps)
        for _ in range(n_clips):
            out = mert(wave, output_hidden_states=True)
            torch.stack(tuple(out.hidden_states[:-1]) + (out.last_hidden_state,)).mean(2)
        sync()
    mert_cps = n_clips / (time.perf_counter() - t)
    projected = (
        PAPER_SAMPLES / train_sps + PAPER_SAMPLES / 20 / mert_cps
    )  # training + encoding each clip once
    return {
        "gpu_device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (smoke test)",
        "gpu_trainable": trainable,
        "gpu_batch_size": batch_size,
        "gpu_seq_len": seq_len,
        "gpu_train_samples_per_s": train_sps,
        "gpu_peak_train_mem_gib": peak_train,
        "gpu_mert_clips_per_s": mert_cps,
        "gpu_projected_paper_run_min": projected / 60,
        "gpu_meets_30_min_target": projected < TARGET_S,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--seq-len",
        type=int,
        default=320,
        help="tokens per sample (MU-LLaMA prompt ~80 + an MSI answer)",
    )
    p.add_argument(
        "--trainable", choices=("adapter", "mu-llama-finetune", "both"), default="adapter"
    )
    p.add_argument("--gpu-only", action="store_true")
    p.add_argument("--cpu-only", action="store_true")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="run the GPU code path with tiny shapes (on the CPU if need be)",
    )
    args = p.parse_args(argv)
    results: dict[str, object] = {}
    if not args.gpu_only:
        results |= cpu_part(args.steps)
    if not args.cpu_only:
        if torch.cuda.is_available() or args.smoke:
            results |= gpu_part(
                batch_size=args.batch_size,
                seq_len=args.seq_len,
                steps=args.steps,
                trainable=args.trainable,
                small=args.smoke,
            )
        else:
            results["gpu"] = (
                "skipped: no CUDA device here (run this script on a GPU machine for the 7B figures)"
            )
    for key, value in results.items():
        print(f"{key:34s} {value:.3f}" if isinstance(value, float) else f"{key:34s} {value}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
