"""Ambience: a demo clip's "original audio", a quiet field recording that suits its scene
(waves for the sea, rain for a rainy forest, booms in time with the fireworks ...)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from generation.democontent.canvas import Layer
from generation.democontent.nature import (
    Foam,
    Lightning,
)
from generation.democontent.places import (
    Court,
    Fireworks,
)

AMBIENCE_SAMPLE_RATE = 48_000
AMBIENCE_RMS_DBFS = -30.0  # quiet, like a field recording under the music


def _shaped_noise(
    rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0
) -> np.ndarray:
    """White noise band-limited to about [lo, hi] Hz with a spectral tilt (dB/octave / 6)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 1.0)
    shape = 1.0 / np.sqrt(1.0 + (lo / f) ** 4) / np.sqrt(1.0 + (f / hi) ** 4) * (f / 1000.0) ** tilt
    x = np.fft.irfft(spec * shape, n)
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def _drift(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve in [0, 1] that changes about ``rate_hz`` times a second."""
    points = max(4, int(n / sr * rate_hz) + 3)
    knots = rng.random(points)
    curve = np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)
    return (0.5 - 0.5 * np.cos(np.pi * curve)).astype(np.float32)


def _events(n: int, sr: int, times, sound: Callable[[int], np.ndarray], rng) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for t in times:
        start = int(t * sr)
        if start >= n:
            continue
        s = sound(int(rng.integers(0, 2**31)))
        end = min(n, start + len(s))
        out[start:end] += s[: end - start]
    return out


def _decay_noise(
    sr: int, length_s: float, lo: float, hi: float, tau: float, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(length_s * sr)
    t = np.arange(n) / sr
    return _shaped_noise(rng, n, sr, lo, hi) * np.exp(-t / tau) * np.minimum(1.0, t / 0.004)


def ambience(
    kind: str, layers: list[Layer], duration: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    n = int(round(duration * sr))
    t = np.arange(n, dtype=np.float32) / sr
    noise = lambda lo, hi, tilt=0.0: _shaped_noise(rng, n, sr, lo, hi, tilt)  # noqa: E731
    times_of = lambda cls: next((lay.times for lay in layers if isinstance(lay, cls)), np.array([]))  # noqa: E731
    poisson = lambda rate: np.sort(rng.uniform(0, duration, rng.poisson(rate * duration)))  # noqa: E731

    if kind == "sea":
        swell = (0.5 + 0.5 * np.sin(2 * np.pi * t / 5.5 - 1.0)) ** 2
        x = noise(80, 2000, -0.5) * (0.25 + 0.75 * swell) + 0.2 * noise(2000, 9000)
    elif kind == "surf":
        swell = ((t % 3.5) / 3.5) ** 3
        x = noise(60, 3000, -0.3) * (0.3 + 0.9 * swell) + _events(
            n, sr, times_of(Foam), lambda s: 1.5 * _decay_noise(sr, 1.5, 300, 6000, 0.4, s), rng
        )
    elif kind == "rain":
        drops = _events(
            n, sr, poisson(40), lambda s: 0.6 * _decay_noise(sr, 0.03, 1500, 8000, 0.006, s), rng
        )
        x = noise(700, 10000, -0.3) * (0.85 + 0.15 * _drift(rng, n, sr, 0.5)) + drops
    elif kind == "storm":
        thunder = _events(
            n,
            sr,
            times_of(Lightning) + 0.6,
            lambda s: 4.0 * _decay_noise(sr, 3.0, 25, 250, 0.9, s),
            rng,
        )
        x = noise(700, 10000, -0.3) + 0.5 * noise(40, 300, -1.0) * _drift(rng, n, sr, 0.4) + thunder
    elif kind == "city":
        passes = _events(
            n,
            sr,
            poisson(0.8),
            lambda s: (
                1.2
                * _decay_noise(sr, 2.5, 150, 2500, 0.8, s)
                * np.sin(np.linspace(0, np.pi, int(2.5 * sr)))
            ),
            rng,
        )
        x = noise(30, 500, -1.0) * 1.2 + passes
    elif kind == "wind":
        x = noise(150, 1800, -0.5) * (0.2 + 0.8 * _drift(rng, n, sr, 0.4))
    elif kind == "fire":
        crackle = _events(
            n, sr, poisson(14), lambda s: 1.8 * _decay_noise(sr, 0.02, 1000, 9000, 0.003, s), rng
        )
        x = 0.6 * noise(40, 600, -0.8) * (0.7 + 0.3 * _drift(rng, n, sr, 3.0)) + crackle
    elif kind == "crowd":
        chatter = noise(250, 3500, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 4.0))
        bounces = times_of(Court)
        thuds = _events(
            n, sr, bounces, lambda s: 1.5 * _decay_noise(sr, 0.12, 60, 600, 0.03, s), rng
        )
        x = chatter + thuds
    elif kind == "birds":

        def chirp(s: int) -> np.ndarray:
            r = np.random.default_rng(s)
            length = r.uniform(0.05, 0.14)
            tt = np.arange(int(length * sr)) / sr
            f0, f1 = r.uniform(2500, 4500), r.uniform(3000, 6000)
            phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * length))
            return (0.9 * np.sin(phase) * np.sin(np.pi * tt / length) ** 2).astype(np.float32)

        x = 0.4 * noise(150, 1500, -0.5) * _drift(rng, n, sr, 0.3) + _events(
            n, sr, poisson(5), chirp, rng
        )
    elif kind == "night":
        pulse = (np.sin(2 * np.pi * 30 * t) > 0.3) & ((t % 0.9) < 0.25)
        crickets = 0.5 * np.sin(2 * np.pi * 4600 * t) * pulse
        x = 0.5 * noise(100, 1200, -0.5) * _drift(rng, n, sr, 0.3) + crickets.astype(np.float32)
    elif kind == "party":
        beat = np.arange(0.0, duration, 60 / 124)
        thump = _events(
            n,
            sr,
            beat,
            lambda s: (
                2.0
                * np.sin(2 * np.pi * 55 * np.arange(int(0.25 * sr)) / sr)
                * np.exp(-np.arange(int(0.25 * sr)) / sr / 0.07)
            ),
            rng,
        )
        x = thump + 0.5 * noise(300, 3000, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 3.0))
    elif kind == "fireworks":
        booms = _events(
            n,
            sr,
            times_of(Fireworks),
            lambda s: 4.0 * _decay_noise(sr, 1.5, 30, 400, 0.35, s),
            rng,
        )
        x = (
            0.3 * noise(150, 1500, -0.5) * _drift(rng, n, sr, 0.5)
            + booms
            + _events(
                n,
                sr,
                times_of(Fireworks) + 0.3,
                lambda s: 0.8 * _decay_noise(sr, 1.0, 2000, 9000, 0.3, s),
                rng,
            )
        )
    elif kind == "underwater":
        x = noise(20, 400, -1.0) + _events(
            n,
            sr,
            poisson(3),
            lambda s: (
                0.6
                * np.sin(
                    2
                    * np.pi
                    * np.random.default_rng(s).uniform(400, 900)
                    * np.arange(int(0.06 * sr))
                    / sr
                    * (1 + np.arange(int(0.06 * sr)) / sr * 8)
                )
                * np.hanning(int(0.06 * sr))
            ),
            rng,
        )
    elif kind == "space":
        drone = (
            sum(np.sin(2 * np.pi * f * t + p) for f, p in ((55.0, 0.0), (82.7, 1.0), (110.3, 2.0)))
            / 3
        )
        x = drone * (0.6 + 0.4 * _drift(rng, n, sr, 0.3)) + 0.3 * noise(20, 300, -1.0)
    elif kind == "car":
        x = (
            noise(30, 400, -1.0) * 1.2
            + 0.3 * np.sin(2 * np.pi * 38 * t)
            + 0.3 * noise(500, 3000) * _drift(rng, n, sr, 0.2)
        )
    elif kind == "carnival":
        x = noise(250, 3500, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 4.0)) + 0.2 * np.sin(
            2 * np.pi * 392 * t
        ) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    else:  # "room": a quiet room tone
        x = noise(40, 400, -1.0) + 0.2 * noise(1000, 6000)
    x = np.asarray(x, np.float32)
    x *= np.float32(10 ** (AMBIENCE_RMS_DBFS / 20) / (np.sqrt(np.mean(x**2)) + 1e-12))
    fade = int(0.05 * sr)
    x[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    x[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return np.clip(x, -1.0, 1.0)
