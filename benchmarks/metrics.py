"""Figures for the objective metrics: ``python benchmarks/metrics.py [--gpu]``.

* FAD over 13,484 x 128 embeddings (the VACAD set x 4 conditions) against a reference of the
  same size: must take under one second.
* KAD on 2,000 x 128 frames, FAD-inf on the 13,484-frame pool.
* Embedding throughput on the CPU with the tiny random models (seconds of audio per second).
* ``--gpu`` (only when CUDA is present): VGGish and CLAP at their real geometry with random
  weights, throughput on the GPU.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics.fad import GaussianStats, fad, fad_inf, kad  # noqa: E402

log = logging.getLogger("benchmarks.metrics")


def _timed(fn, *args, repeat: int = 3, **kwargs) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_fad() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(13_484, 128)).astype(np.float32)
    b = (rng.normal(size=(13_484, 128)) @ rng.normal(size=(128, 128)) / 11 + 0.1).astype(np.float32)
    seconds, res = _timed(fad, a, b)
    log.info(
        "FAD 13484x128 vs 13484x128 (stats + distance): %.3f s  (FAD %.3f)%s",
        seconds,
        res.fad,
        "" if seconds < 1.0 else "  ** over the 1 s target **",
    )
    ref = GaussianStats.from_embeddings(a)
    seconds, _ = _timed(fad, ref, b)
    log.info("FAD against precomputed reference statistics: %.3f s", seconds)
    seconds, _ = _timed(kad, a[:2000], b[:2000], repeat=1)
    log.info("KAD 2000x128 vs 2000x128: %.3f s", seconds)
    seconds, r = _timed(fad_inf, ref, b, repeat=1)
    log.info(
        "FAD-inf over a 13484-frame pool (25 sizes): %.3f s  (FAD-inf %.3f)", seconds, r.fad_inf
    )


def bench_cpu_embedders() -> None:
    from analysis.metrics import tiny
    from analysis.metrics.embeddings import (
        ClapEmbedder,
        EncodecEmbedder,
        HubertEmbedder,
        VGGishEmbedder,
    )

    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(10 * 48000) / 48000)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        backends = {
            "vggish-google (tiny)": lambda: VGGishEmbedder(
                tiny.build_tiny_vggish(Path(d) / "v"), device="cpu"
            ),
            "vggish-torch (tiny)": lambda: VGGishEmbedder(
                tiny.build_tiny_vggish(Path(d) / "v2"), framing="torchvggish", device="cpu"
            ),
            "clap (tiny)": lambda: ClapEmbedder(tiny.build_tiny_clap(Path(d) / "c"), device="cpu"),
            "encodec (tiny)": lambda: EncodecEmbedder(
                tiny.build_tiny_encodec(Path(d) / "e"), device="cpu"
            ),
            "mert (tiny)": lambda: HubertEmbedder(
                tiny.build_tiny_hubert(Path(d) / "m"), device="cpu"
            ),
        }
        for name, make in backends.items():
            emb = make()
            seconds, out = _timed(emb.embed, audio, sample_rate=48000, repeat=2)
            log.info(
                "%-22s 10 s clip -> %s in %.3f s  (%.0f s of audio per s)",
                name,
                out.shape,
                seconds,
                10 / seconds,
            )


def bench_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        log.info("GPU mode skipped: no CUDA device")
        return
    from transformers import ClapConfig, ClapModel

    from analysis.metrics.vggish import VGGish

    dev = torch.device("cuda")
    vgg = VGGish().to(dev).eval()  # the real geometry, random weights
    x = torch.randn(1024, 1, 96, 64, device=dev)
    with torch.inference_mode():
        vgg(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            vgg(x)
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / 5
    log.info(
        "VGGish (real size) on %s: %d examples in %.4f s = %.0f s of audio per s",
        torch.cuda.get_device_name(),
        x.shape[0],
        per,
        x.shape[0] * 0.96 / per,
    )
    clap = ClapModel(ClapConfig()).to(dev).eval()
    feats = torch.randn(32, 1, 1001, 64, device=dev)
    with torch.inference_mode():
        clap.get_audio_features(input_features=feats)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(3):
            clap.get_audio_features(input_features=feats)
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / 3
    log.info(
        "CLAP HTSAT (real size) on GPU: 32 x 10 s windows in %.4f s = %.0f s of audio per s",
        per,
        320 / per,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="also run the GPU figures (needs CUDA)")
    parser.add_argument("--skip-embedders", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    bench_fad()
    if not args.skip_embedders:
        bench_cpu_embedders()
    if args.gpu:
        bench_gpu()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
