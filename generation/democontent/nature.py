"""Layers of the demo's scenes: sky, water, weather, land and plants. Each is drawn with the kit in
``canvas`` and placed in a scene by ``painter``."""

from __future__ import annotations

import math

import numpy as np

from generation.democontent.canvas import (
    Layer,
    paint_disc,
    paint_dots,
    paint_glow,
    paint_lines,
    rgb,
)


class Ground(Layer):
    def setup(self, top: float = 0.75, colour: str = "#203020", far: str | None = None):
        self.top, self.colour, self.far = top, rgb(colour), rgb(far or colour)

    def paint(self, bg):
        y0 = int(self.top * self.c.h)
        k = np.linspace(0.0, 1.0, self.c.h - y0, dtype=np.float32)[:, None, None]
        bg[y0:] = self.far * (1 - k) + self.colour * k


class Sun(Layer):
    def setup(
        self,
        colour="#ffcc66",
        start=(0.5, 0.45),
        end=(0.5, 0.62),
        radius=14.0,
        glow=0.8,
        horizon=None,
    ):
        self.colour, self.start, self.end = rgb(colour), start, end
        self.radius, self.glow, self.horizon = radius * self.c.s, glow, horizon

    def draw(self, img, t):
        k = t / self.c.duration
        cx = (self.start[0] * (1 - k) + self.end[0] * k) * self.c.w
        cy = (self.start[1] * (1 - k) + self.end[1] * k) * self.c.h
        # The sea (below ``horizon``) hides the lower part of the sun.
        sky = img[: int(self.horizon * self.c.h)] if self.horizon is not None else img
        paint_glow(self.c, sky, cx, cy, self.radius * 1.8, self.colour, self.glow * 0.5)
        paint_disc(self.c, sky, cx, cy, self.radius, np.minimum(self.colour * 1.2, 1.0))


class Water(Layer):
    """Water below ``top``: gradient plus moving ripples and a glitter path under a light."""

    def setup(
        self,
        top=0.6,
        colour="#1a3a5a",
        deep="#0a1a30",
        ripple=0.06,
        speed=1.0,
        light_x=None,
        light="#ffd080",
        rough=1.0,
    ):
        self.top, self.colour, self.deep = top, rgb(colour), rgb(deep)
        self.ripple, self.speed, self.light = ripple, speed, rgb(light)
        y0 = int(top * self.c.h)
        self.y0 = y0
        yy = self.c.y[y0:] - y0 + 1.0
        xx = self.c.x[y0:]
        self.depth = yy / max(1.0, self.c.h - y0)
        # wave = sin(p - 3w) * sin(q + 0.7w), expanded so a frame costs a few multiply-adds.
        p = 40.0 * np.log(yy) * rough + 0.04 * xx * rough
        q = 0.11 * xx / self.c.s + 12.0 * np.log(yy) * rough
        self.sp, self.cp, self.sq, self.cq = np.sin(p), np.cos(p), np.sin(q), np.cos(q)
        self.path = None
        if light_x is not None:
            spread = (6.0 + 30.0 * self.depth) * self.c.s
            self.path = 0.9 * np.exp(-((xx - light_x * self.c.w) ** 2) / (2 * spread**2))

    def paint(self, bg):
        k = self.depth[..., None]
        bg[self.y0 :] = self.colour * (1 - k) + self.deep * k

    def draw(self, img, t):
        w = t * self.speed
        a, b = 3.0 * w, 0.7 * w
        wave = (self.sp * math.cos(a) - self.cp * math.sin(a)) * (
            self.sq * math.cos(b) + self.cq * math.sin(b)
        )
        region = img[self.y0 :]
        region += (self.ripple * wave)[..., None]
        if self.path is not None:
            glitter = np.clip(wave, 0.0, 1.0)
            region += (self.path * glitter * glitter * glitter)[..., None] * self.light


class Stars(Layer):
    def setup(self, n=120, top=0.0, bottom=0.6, twinkle=0.5, colour="#ffffff"):
        rng = self.c.rng
        self.xs = rng.uniform(0, self.c.w, n)
        self.ys = rng.uniform(top * self.c.h, bottom * self.c.h, n)
        self.base = rng.uniform(0.3, 1.0, n)
        self.freq = rng.uniform(0.5, 3.0, n)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.twinkle, self.colour = twinkle, rgb(colour)

    def draw(self, img, t):
        a = self.base * (
            1 - self.twinkle * (0.5 + 0.5 * np.sin(self.freq * 2 * np.pi * t + self.phase))
        )
        paint_dots(self.c, img, self.xs, self.ys, self.colour, a)


class Moon(Layer):
    def setup(self, x=0.8, y=0.2, radius=9.0, colour="#f4f0dc"):
        self.x, self.y, self.r, self.colour = x, y, radius * self.c.s, rgb(colour)

    def paint(self, bg):
        cx, cy = self.x * self.c.w, self.y * self.c.h
        paint_glow(self.c, bg, cx, cy, self.r * 2, self.colour, 0.25)
        paint_disc(self.c, bg, cx, cy, self.r, self.colour)


class Rain(Layer):
    def setup(
        self,
        n=220,
        speed=260.0,
        length=9.0,
        slant=0.15,
        colour="#9fb4c8",
        alpha=0.35,
        top=0.0,
        bottom=1.0,
    ):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(-20, c.w + 20, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.8, 1.2, n) * speed * c.s
        self.length, self.slant, self.colour, self.alpha = length * c.s, slant, rgb(colour), alpha
        self.top, self.bottom = top * c.h, bottom * c.h

    def draw(self, img, t):
        span = self.bottom - self.top + self.length
        y = self.top + (self.y0 + self.v * t) % span - self.length
        x = self.x0 + self.slant * (y - self.top)
        paint_lines(
            self.c,
            img,
            x,
            y,
            x + self.slant * self.length,
            y + self.length,
            self.colour,
            self.alpha,
            steps=int(self.length) + 1,
        )


class Snow(Layer):
    def setup(self, n=260, speed=18.0, colour="#ffffff"):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.sway = rng.uniform(2, 8, n) * c.s
        self.f = rng.uniform(0.2, 0.7, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.big = rng.random(n) < 0.3
        self.colour = rgb(colour)

    def draw(self, img, t):
        y = (self.y0 + self.v * t) % self.c.h
        x = (self.x0 + self.sway * np.sin(2 * np.pi * self.f * t + self.ph)) % self.c.w
        paint_dots(self.c, img, x[~self.big], y[~self.big], self.colour, 0.8)
        paint_dots(
            self.c, img, x[self.big], y[self.big], self.colour, 0.9, size=max(2, int(2 * self.c.s))
        )


class Trees(Layer):
    def setup(self, base=0.9, n=16, height=(0.35, 0.75), colour="#0b1c12", far="#1c3326"):
        rng, c = self.c.rng, self.c
        self.trees = []
        for layer, col in ((0, rgb(far)), (1, rgb(colour))):
            for _ in range(n // 2):
                h = rng.uniform(*height) * c.h * (0.75 if layer == 0 else 1.0)
                self.trees.append((rng.uniform(0, c.w), h, h * rng.uniform(0.25, 0.35), col, layer))
        self.base = base * c.h

    def paint(self, bg):
        c = self.c
        for x, h, half, col, _ in sorted(self.trees, key=lambda tr: tr[4]):
            top = self.base - h
            rel = (c.y - top) / h
            mask = (
                (rel >= 0)
                & (rel <= 1)
                & (np.abs(c.x - x) <= half * rel * (0.6 + 0.4 * ((rel * 5) % 1)))
            )
            bg[mask] = col
        bg[int(self.base) :] = self.trees[-1][3]


class Lightning(Layer):
    def setup(self, strikes=3):
        rng, c = self.c.rng, self.c
        self.times = np.sort(rng.uniform(0.8, max(1.0, c.duration - 1.0), strikes))
        self.paths = []
        for _ in range(strikes):
            x = rng.uniform(0.2, 0.8) * c.w
            ys = np.linspace(0, 0.7 * c.h, 14)
            xs = x + np.cumsum(rng.normal(0, 6 * c.s, 14))
            self.paths.append((xs, ys))

    def draw(self, img, t):
        for (xs, ys), t0 in zip(self.paths, self.times, strict=True):
            dt = t - t0
            if 0 <= dt < 0.35:
                flash = (1 - dt / 0.35) * (0.6 if dt < 0.1 or 0.18 < dt < 0.24 else 0.25)
                img += flash * rgb("#c8d0ff")
                paint_lines(
                    self.c, img, xs[:-1], ys[:-1], xs[1:], ys[1:], rgb("#ffffff"), 1.0, steps=10
                )


class Leaves(Layer):
    def setup(self, n=70, colours=("#d2691e", "#b22222", "#e0a020", "#8b4513"), speed=22.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.sway = rng.uniform(6, 16, n) * c.s
        self.f = rng.uniform(0.2, 0.5, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        palette = np.array([rgb(h) for h in colours])
        self.colour = palette[rng.integers(0, len(palette), n)]

    def draw(self, img, t):
        y = (self.y0 + self.v * t) % self.c.h
        x = (self.x0 + self.sway * np.sin(2 * np.pi * self.f * t + self.ph)) % self.c.w
        paint_dots(self.c, img, x, y, self.colour, 1.0, size=max(2, int(3 * self.c.s)))


class Bubbles(Layer):
    def setup(self, n=32, speed=25.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.r = rng.uniform(1.5, 4.0, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)

    def paint(self, bg):
        c = self.c
        for k in range(6):  # light rays from the surface
            x = (0.1 + 0.16 * k) * c.w
            ray = np.exp(-((c.x - x - 0.35 * c.y) ** 2) / (2 * (6 * c.s) ** 2)) * (1 - c.y / c.h)
            bg += (0.12 * ray)[..., None] * rgb("#9fd8ff")

    def draw(self, img, t):
        y = (self.y0 - self.v * t) % self.c.h
        x = self.x0 + 3 * self.c.s * np.sin(2 * np.pi * 0.8 * t + self.ph)
        for i in range(len(x)):
            paint_disc(self.c, img, x[i], y[i], self.r[i], rgb("#bfeaff"), 0.35)
        paint_dots(self.c, img, x - self.r * 0.4, y - self.r * 0.4, rgb("#ffffff"), 0.8)


class Aurora(Layer):
    def setup(self, colours=("#40ff9a", "#9a60ff"), bottom=0.6):
        self.colours = [rgb(h) for h in colours]
        self.bottom = bottom
        self.u = self.c.x / self.c.w
        self.v = self.c.y / self.c.h

    def draw(self, img, t):
        rows = int(self.bottom * self.c.h)
        u, v = self.u[:rows], self.v[:rows]
        for i, col in enumerate(self.colours):
            centre = (
                0.25
                + 0.1 * i
                + 0.07 * np.sin(2 * np.pi * (u * (1.3 + 0.4 * i) + 0.05 * t * (1 + i)))
                + 0.03 * np.sin(2 * np.pi * (u * 4.0 - 0.1 * t))
            )
            band = np.exp(-(((v - centre) / (0.05 + 0.02 * i)) ** 2)) * (
                0.55 + 0.45 * np.sin(2 * np.pi * (u * 7 + 0.12 * t + i)) ** 2
            )
            img[:rows] += (0.55 * band)[..., None] * col


class Birds(Layer):
    def setup(self, n=9, speed=28.0, colour="#201818"):
        rng, c = self.c.rng, self.c
        self.dx = rng.normal(0, 18, n) * c.s
        self.dy = rng.normal(0, 8, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.speed, self.colour = speed * c.s, rgb(colour)

    def draw(self, img, t):
        c = self.c
        cx = -30 * c.s + self.speed * t
        cy = 0.35 * c.h + 6 * c.s * np.sin(0.6 * t)
        x, y = cx + self.dx, cy + self.dy
        flap = 3 * c.s * np.sin(2 * np.pi * 3 * t + self.ph)
        span = 5 * c.s
        paint_lines(c, img, x - span, y - flap, x, y, self.colour, steps=8)
        paint_lines(c, img, x, y, x + span, y - flap, self.colour, steps=8)


class Mountains(Layer):
    def setup(self, ridges=("#6a7fa8", "#4a5f88", "#2e3f62"), top=0.35, snow=False):
        self.ridges, self.top, self.snow = [rgb(h) for h in ridges], top, snow

    def paint(self, bg):
        c, rng = self.c, self.c.rng
        u = np.arange(c.w) / c.w
        for i, col in enumerate(self.ridges):
            base = self.top + 0.15 * i
            ridge = (
                base
                + 0.08 * np.sin(2 * np.pi * (u * rng.uniform(1, 2) + rng.random()))
                + 0.05 * np.abs(np.sin(2 * np.pi * u * rng.uniform(3, 6)))
            )
            mask = c.y / c.h > ridge[None, :]
            bg[mask] = col
            if self.snow and i == 0:  # snow caps on the far ridge's peaks
                peaks = ridge < np.quantile(ridge, 0.35)
                cap = mask & (c.y / c.h < ridge[None, :] + 0.06) & peaks[None, :]
                bg[cap] = 0.3 * bg[cap] + 0.7 * rgb("#f0f4ff")


class Clouds(Layer):
    def setup(self, n=6, speed=8.0, colour="#ffffff", alpha=0.6, top=0.1, bottom=0.45):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y = rng.uniform(top, bottom, n) * c.h
        self.r = rng.uniform(10, 20, n) * c.s
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.colour, self.alpha = rgb(colour), alpha

    def draw(self, img, t):
        c = self.c
        span = c.w + 80 * c.s
        for x0, y, r, v in zip(self.x0, self.y, self.r, self.v, strict=True):
            x = (x0 + v * t) % span - 40 * c.s
            for dx, dy, k in ((-0.5 * r, 0.0, 0.8), (0.5 * r, r * 0.2, 0.7)):
                paint_glow(c, img, x + dx, y + dy, r * k * 0.7, self.colour, self.alpha * 0.6)


class Meadow(Layer):
    def setup(self, top=0.6, butterflies=10):
        rng, c = self.c.rng, self.c
        self.top = top
        self.fx = rng.uniform(0, c.w, 160)
        self.fy = rng.uniform(top * c.h + 4, c.h, 160)
        palette = np.array([rgb(h) for h in ("#ff5a8a", "#ffe040", "#ffffff", "#b070ff")])
        self.fc = palette[rng.integers(0, len(palette), 160)]
        self.bx = rng.uniform(0, c.w, butterflies)
        self.by = rng.uniform(0.45, 0.8, butterflies) * c.h
        self.bph = rng.uniform(0, 2 * np.pi, butterflies)
        self.bc = palette[rng.integers(0, 2, butterflies)]

    def paint(self, bg):
        c = self.c
        y0 = int(self.top * c.h)
        k = np.linspace(0, 1, c.h - y0, dtype=np.float32)[:, None, None]
        bg[y0:] = rgb("#78c850") * (1 - k) + rgb("#3c8c28") * k
        paint_dots(c, bg, self.fx, self.fy, self.fc, 1.0, size=max(2, int(2 * c.s)))

    def draw(self, img, t):
        c = self.c
        x = (self.bx + 12 * c.s * np.sin(0.7 * t + self.bph) + 10 * c.s * t) % c.w
        y = self.by + 8 * c.s * np.sin(1.3 * t + 2 * self.bph)
        flap = np.abs(np.sin(2 * np.pi * 6 * t + self.bph)) * 2 * c.s
        paint_dots(c, img, x - flap, y, self.bc, 1.0, size=2)
        paint_dots(c, img, x + flap, y, self.bc, 1.0, size=2)


class Foam(Layer):
    """Dark rocks on the shore and white foam that bursts against them on every wave."""

    def setup(self, period=4.0, rocks_y=0.72):
        rng, c = self.c.rng, self.c
        self.period, self.rocks_y = period, rocks_y * c.h
        self.rx = rng.uniform(0.1, 0.9, 5) * c.w
        self.rr = rng.uniform(14, 26, 5) * c.s
        self.spray = rng.normal(0, 1, (120, 2))
        self.times = np.arange(period * 0.6, c.duration, period)

    def paint(self, bg):
        for x, r in zip(self.rx, self.rr, strict=True):
            paint_disc(self.c, bg, x, self.rocks_y + r * 0.4, r, rgb("#1a1a1e"))

    def draw(self, img, t):
        c = self.c
        phase = (t % self.period) / self.period
        front = self.rocks_y + (1 - phase) * 30 * c.s
        img[int(front) : int(front + 4 * c.s)] += 0.5
        hit = (t - self.period * 0.6) % self.period
        if hit < 1.2:
            k = hit / 1.2
            for x, r in zip(self.rx, self.rr, strict=True):
                xs = x + self.spray[:, 0] * r * (0.5 + k)
                ys = self.rocks_y - np.abs(self.spray[:, 1]) * r * 1.6 * np.sin(np.pi * k) + r * 0.2
                paint_dots(c, img, xs, ys, rgb("#ffffff"), 1 - k, size=2)
