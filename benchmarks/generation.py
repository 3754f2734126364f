"""MusicGen generation throughput: tracks per second by batch size.

    python benchmarks/generation.py            # GPU mode when CUDA is present, else CPU tiny mode
    python benchmarks/generation.py --mode cpu-tiny --batch-sizes 1 4 16 --duration 10
    python benchmarks/generation.py --mode gpu --geometry small --batch-sizes 1 16 64

cpu-tiny: the tiny random checkpoint of ``python -m modeling.tiny`` (loaded through
``get_pretrained``), 10 s tracks; reports tracks/s per batch size and the batching gain.
gpu: a model with the published geometry of facebook/musicgen-small (or medium/large) and random
weights (no download), bf16 text encoder and decoder, fp32 EnCodec, 10 s tracks; reports tracks
per second and per minute, seconds of audio per second and peak GPU memory.

Both modes run the same ``MusicGen.generate`` (top_k 250, temperature 1, guidance 3: the
published defaults) that the project uses.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import (  # noqa: E402
    EncodecConfig,
    EncodecFeatureExtractor,
    GenerationConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenProcessor,
    T5Config,
)

from modeling.musicgen import MusicGen, build_tiny, get_pretrained, tiny_tokenizer  # noqa: E402

TARGET_TRACKS_PER_S = 20.0  # ten-second tracks per second on one H100 (issue 4)

# The decoders of the published checkpoints; all use T5-base and the 32 kHz EnCodec.
GEOMETRIES: dict[str, dict[str, int]] = {
    "small": {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "ffn_dim": 4096,
    },
    "medium": {
        "hidden_size": 1536,
        "num_hidden_layers": 48,
        "num_attention_heads": 24,
        "ffn_dim": 6144,
    },
    "large": {
        "hidden_size": 2048,
        "num_hidden_layers": 48,
        "num_attention_heads": 32,
        "ffn_dim": 8192,
    },
}

PROMPTS = [
    "upbeat jazz with piano and brushed drums",
    "calm ambient strings for a night scene in the city",
    "energetic electronic track with a heavy bass line",
    "sad slow acoustic guitar",
]


def published_config(geometry: str) -> MusicgenConfig:
    """The configuration of facebook/musicgen-<geometry> (decoder, T5-base, EnCodec 32 kHz)."""
    text = T5Config(
        vocab_size=32128,
        d_model=768,
        d_kv=64,
        d_ff=3072,
        num_layers=12,
        num_heads=12,
        relative_attention_num_buckets=32,
    )
    audio = EncodecConfig(
        sampling_rate=32_000,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=2048,
        codebook_dim=128,
        target_bandwidths=[2.2],
        hidden_size=128,
        num_filters=64,
        num_lstm_layers=2,
        num_residual_layers=1,
        use_causal_conv=False,
        use_conv_shortcut=False,
        norm_type="weight_norm",
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=2048,
        num_codebooks=4,
        max_position_embeddings=2048,
        pad_token_id=2048,
        bos_token_id=2048,
        **GEOMETRIES[geometry],
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)


def random_published_model(geometry: str, *, device: torch.device, dtype: torch.dtype) -> MusicGen:
    """A MusicGen with a published geometry and random weights, built directly on ``device``."""
    config = published_config(geometry)
    with torch.device(device):
        model = MusicgenForConditionalGeneration(config)
    model.to(dtype)
    model.audio_encoder.to(torch.float32)
    model.generation_config = GenerationConfig(
        do_sample=True,
        top_k=250,
        guidance_scale=3.0,
        max_length=1500,
        pad_token_id=2048,
        bos_token_id=2048,
        decoder_start_token_id=2048,
    )
    processor = MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=32_000),
        # ids fit T5-base's vocabulary; the text content is irrelevant here
        tokenizer=tiny_tokenizer(),
    )
    return MusicGen(
        model=model.eval(), processor=processor, name=f"musicgen-{geometry} geometry (random)"
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(model: MusicGen, *, batch_sizes: list[int], duration_s: float, repeats: int) -> list[dict]:
    device = model.device
    model.generate(PROMPTS[:1], duration_s=min(duration_s, 1.0), seed=0)  # warm-up
    rows = []
    for batch in batch_sizes:
        texts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for r in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            audio = model.generate(texts, duration_s=duration_s, seed=r)
            _sync(device)
            times.append(time.perf_counter() - t0)
        assert audio.shape == (batch, model.num_samples(duration_s))
        best = min(times)
        row = {
            "batch": batch,
            "seconds": best,
            "tracks_per_s": batch / best,
            "audio_s_per_s": batch * duration_s / best,
        }
        if device.type == "cuda":
            row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        rows.append(row)
        extra = f"  peak {row['peak_gib']:.1f} GiB" if "peak_gib" in row else ""
        print(
            f"  batch {batch:4d}: {best:8.2f} s  {row['tracks_per_s']:8.2f} tracks/s  "
            f"{row['tracks_per_s'] * 60:9.1f} tracks/min  {row['audio_s_per_s']:8.1f} s "
            f"audio/s{extra}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["auto", "cpu-tiny", "gpu"], default="auto")
    parser.add_argument("--geometry", choices=sorted(GEOMETRIES), default="small", help="gpu mode")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=None,
        help="default: 1 4 16 (cpu-tiny), 1 16 64 (gpu)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per track (default 10)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="best of N (default 3 cpu, 2 gpu)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="cpu-tiny mode: torch CPU threads (default 1: toy-sized ops gain nothing from more)",
    )
    parser.add_argument(
        "--dtype",
        choices=["bfloat16", "float16", "float32"],
        default="bfloat16",
        help="gpu mode: text encoder and decoder dtype",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    mode = args.mode
    if mode == "auto":
        mode = "gpu" if torch.cuda.is_available() else "cpu-tiny"
        if mode == "cpu-tiny":
            print("No CUDA device: running the CPU tiny mode only (the GPU mode needs a GPU).")
    if mode == "gpu" and not torch.cuda.is_available():
        print("GPU mode asked but CUDA is not available here: nothing measured.")
        return 2

    if mode == "cpu-tiny":
        torch.set_num_threads(args.threads)
        batch_sizes = args.batch_sizes or [1, 4, 16]
        with tempfile.TemporaryDirectory() as tmp:
            model = get_pretrained(str(build_tiny(Path(tmp) / "musicgen")), device="cpu")
        print(
            f"CPU tiny MusicGen, {args.duration:g} s tracks, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads"
        )
        rows = run(
            model, batch_sizes=batch_sizes, duration_s=args.duration, repeats=args.repeats or 3
        )
        first, last = rows[0], rows[-1]
        gain = last["tracks_per_s"] / first["tracks_per_s"]
        print(
            f"batching gain: batch {last['batch']} makes {gain:.1f}x the tracks/s of batch "
            f"{first['batch']}"
            f" ({'pays off' if gain > 1.5 else 'does NOT pay off'})"
        )
        return 0

    device = torch.device("cuda")
    dtype = getattr(torch, args.dtype)
    batch_sizes = args.batch_sizes or [1, 16, 64]
    model = random_published_model(args.geometry, device=device, dtype=dtype)
    params = sum(p.numel() for p in model.model.parameters()) / 1e6
    print(
        f"GPU: {torch.cuda.get_device_name(device)}, musicgen-{args.geometry} geometry "
        f"({params:.0f} M params, random weights), {args.dtype}, {args.duration:g} s tracks, "
        f"torch {torch.__version__}"
    )
    rows = run(model, batch_sizes=batch_sizes, duration_s=args.duration, repeats=args.repeats or 2)
    best = max(rows, key=lambda r: r["tracks_per_s"])
    verdict = "meets" if best["tracks_per_s"] >= TARGET_TRACKS_PER_S else "misses"
    print(
        f"best: {best['tracks_per_s']:.2f} tracks/s at batch {best['batch']}; {verdict} the target "
        "of "
        f"{TARGET_TRACKS_PER_S:g} ten-second tracks/s on one H100"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
