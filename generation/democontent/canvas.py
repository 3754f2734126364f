"""The drawing kit of the demo's painter: a canvas of pixel grids, anti-aliased discs, glows,
dots and lines blended into float32 RGB frames, and the ``Layer`` every scene element extends.
A layer paints once into the static background and/or draws into every frame; all drawing is
vectorised numpy."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

Colour = tuple[float, float, float]


def rgb(hex_colour: str) -> np.ndarray:
    value = int(hex_colour.lstrip("#"), 16)
    return np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], np.float32) / 255.0


class Canvas:
    """Pixel grids shared by the layers of one video."""

    def __init__(self, width: int, height: int, duration: float, rng: np.random.Generator):
        self.w, self.h, self.duration, self.rng = width, height, duration, rng
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.s = height / 180.0  # scale: layers are designed at 320x180


def blend(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """img = img * (1 - mask) + colour * mask, in place; mask is (H, W) or broadcastable."""
    img += mask[..., None] * (colour - img)


@functools.lru_cache(maxsize=512)
def _gauss_patch(radius_q: float) -> np.ndarray:
    half = int(math.ceil(3.0 * radius_q))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    return np.exp(-(xx * xx + yy * yy) / (2.0 * radius_q * radius_q))


@functools.lru_cache(maxsize=512)
def _disc_patch(radius_q: float) -> np.ndarray:
    half = int(math.ceil(radius_q)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    return np.clip(radius_q - np.sqrt(xx * xx + yy * yy) + 0.5, 0.0, 1.0)


def _quantise(radius: float) -> float:
    return max(0.5, round(float(radius) * 4.0) / 4.0)


def _stamp(img: np.ndarray, cx: float, cy: float, patch: np.ndarray):
    """The part of ``img`` under ``patch`` centred at (cx, cy), and the matching part of the
    patch; (None, None) when they do not overlap."""
    half = patch.shape[0] // 2
    x, y = int(round(cx)), int(round(cy))
    h, w = img.shape[:2]
    x0, x1, y0, y1 = x - half, x + half + 1, y - half, y + half + 1
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return None, None
    px0, py0 = max(0, -x0), max(0, -y0)
    px1, py1 = patch.shape[1] - max(0, x1 - w), patch.shape[0] - max(0, y1 - h)
    return img[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)], patch[py0:py1, px0:px1]


def paint_glow(
    c: Canvas, img: np.ndarray, cx: float, cy: float, radius: float, colour, strength: float
) -> None:
    """Additive soft (Gaussian) glow."""
    region, patch = _stamp(img, cx, cy, _gauss_patch(_quantise(radius)))
    if region is not None:
        region += patch[..., None] * (np.asarray(colour, np.float32) * np.float32(strength))


def paint_disc(
    c: Canvas, img: np.ndarray, cx: float, cy: float, radius: float, colour, alpha: float = 1.0
) -> None:
    """An anti-aliased filled disc, blended over ``img``."""
    region, patch = _stamp(img, cx, cy, _disc_patch(_quantise(radius)))
    if region is not None:
        region += (np.float32(alpha) * patch)[..., None] * (np.asarray(colour, np.float32) - region)


def paint_dots(c: Canvas, img: np.ndarray, xs, ys, colours, alpha=1.0, size: int = 1) -> None:
    """Small square points; ``colours`` is (3,) or (N, 3); ``alpha`` scalar or (N,)."""
    xs = np.asarray(xs, np.float32)
    ys = np.asarray(ys, np.float32)
    colours = np.broadcast_to(np.asarray(colours, np.float32), (len(xs), 3))
    alpha = np.broadcast_to(np.asarray(alpha, np.float32), (len(xs),))
    for dy in range(size):
        for dx in range(size):
            xi = np.round(xs).astype(np.int64) + dx
            yi = np.round(ys).astype(np.int64) + dy
            ok = (xi >= 0) & (xi < c.w) & (yi >= 0) & (yi < c.h)
            a = alpha[ok][:, None]
            img[yi[ok], xi[ok]] += a * (colours[ok] - img[yi[ok], xi[ok]])


def paint_lines(
    c: Canvas, img: np.ndarray, x0, y0, x1, y1, colour, alpha=1.0, steps: int = 12
) -> None:
    """Thin straight segments from (x0, y0) to (x1, y1), one per element."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :]
    xs = (
        np.asarray(x0, np.float32)[:, None] * (1 - t) + np.asarray(x1, np.float32)[:, None] * t
    ).ravel()
    ys = (
        np.asarray(y0, np.float32)[:, None] * (1 - t) + np.asarray(y1, np.float32)[:, None] * t
    ).ravel()
    a = np.repeat(np.broadcast_to(np.asarray(alpha, np.float32), (len(np.atleast_1d(x0)),)), steps)
    paint_dots(c, img, xs, ys, colour, a)


class Layer:
    def __init__(self, c: Canvas, **params):
        self.c = c
        self.params = params
        self.setup(**params)

    def setup(self, *args: Any, **params: Any) -> None:
        """Each layer takes its own keyword parameters (``*args`` lets any signature override)."""

    def paint(self, bg: np.ndarray) -> None:
        """Paint into the static background (once)."""

    def draw(self, img: np.ndarray, t: float) -> None:
        """Draw into the frame at time ``t`` seconds."""
