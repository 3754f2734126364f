"""Layers of the demo's scenes: cities, roads, people, lights and festivities. Each is drawn with
the kit in
``canvas`` and placed in a scene by ``painter``."""

from __future__ import annotations

import numpy as np

from generation.democontent.canvas import (
    Layer,
    paint_disc,
    paint_dots,
    paint_glow,
    paint_lines,
    rgb,
)


class Skyline(Layer):
    """Tower blocks with lit windows; a few windows switch on and off."""

    def setup(
        self,
        base=0.75,
        height=(0.2, 0.55),
        colour="#0c0c16",
        window="#ffd27a",
        lit=0.35,
        houses=False,
    ):
        rng, c = self.c.rng, self.c
        self.base, self.colour, self.window = base, rgb(colour), rgb(window)
        self.rects, wins = [], []
        x = -5.0 * c.s
        while x < c.w:
            bw = rng.uniform(18, 45) * c.s if not houses else rng.uniform(28, 40) * c.s
            bh = rng.uniform(*height) * c.h
            self.rects.append((x, base * c.h - bh, x + bw - 2 * c.s, base * c.h))
            step = 6 * c.s
            for wy in np.arange(base * c.h - bh + 4 * c.s, base * c.h - 4 * c.s, step):
                for wx in np.arange(x + 3 * c.s, x + bw - 6 * c.s, step):
                    if rng.random() < lit:
                        wins.append((wx, wy))
            x += bw + (rng.uniform(0, 8) * c.s if houses else 0)
        self.houses = houses
        w = np.array(wins, np.float32).reshape(-1, 2)
        self.wx, self.wy = w[:, 0], w[:, 1]
        self.toggle_t = rng.uniform(0, c.duration, len(w))
        self.toggles = rng.random(len(w)) < 0.15

    def paint(self, bg):
        c = self.c
        for x0, y0, x1, y1 in self.rects:
            bg[int(max(0, y0)) : int(y1), int(max(0, x0)) : int(max(0, x1))] = self.colour
            if self.houses:  # a roof
                cx, span = (x0 + x1) / 2, (x1 - x0) / 2
                ys = np.arange(int(y0 - span * 0.6), int(y0))
                for yy in ys[(ys >= 0)]:
                    half = span * (yy - (y0 - span * 0.6)) / (span * 0.6)
                    bg[yy, int(max(0, cx - half)) : int(max(0, cx + half))] = self.colour
        size = max(1, int(round(2 * c.s)))
        paint_dots(c, bg, self.wx, self.wy, self.window, 0.9, size=size)

    def draw(self, img, t):
        off = self.toggles & (t > self.toggle_t)
        if off.any():
            size = max(1, int(round(2 * self.c.s)))
            paint_dots(self.c, img, self.wx[off], self.wy[off], self.colour, 1.0, size=size)


class Traffic(Layer):
    def setup(self, y=0.85, n=14, speed=(60, 110)):
        rng, c = self.c.rng, self.c
        self.y = y * c.h
        self.dir = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        self.lane = np.where(self.dir > 0, self.y + 5 * c.s, self.y - 3 * c.s)
        slow, fast = speed
        self.v = rng.uniform(slow, fast, n) * c.s * self.dir
        self.x0 = rng.uniform(0, c.w + 60 * c.s, n)

    def paint(self, bg):
        c = self.c
        bg[int(self.y - 8 * c.s) : int(self.y + 10 * c.s)] = rgb("#15151c")
        dash = (np.arange(c.w) // int(10 * c.s)) % 2 == 0
        bg[int(self.y + 1 * c.s), dash] = rgb("#a0a070")

    def draw(self, img, t):
        c = self.c
        span = c.w + 60 * c.s
        x = (self.x0 + self.v * t) % span - 30 * c.s
        heads = self.dir > 0
        colours = np.where(heads[:, None], rgb("#fff6d8"), rgb("#ff3020"))
        for dx in (0.0, 6.0 * c.s):
            for i in range(len(x)):
                paint_glow(
                    c, img, x[i] + dx, self.lane[i], 2.5 * c.s, colours[i], 0.9 if heads[i] else 0.6
                )


class Fireworks(Layer):
    def setup(self, bursts=6, particles=90):
        rng, c = self.c.rng, self.c
        self.times = np.sort(rng.uniform(0.3, max(0.4, c.duration - 1.5), bursts))
        self.cx = rng.uniform(0.2, 0.8, bursts) * c.w
        self.cy = rng.uniform(0.15, 0.45, bursts) * c.h
        palette = np.array(
            [rgb(h) for h in ("#ff4040", "#40ff80", "#6080ff", "#ffd040", "#ff60ff", "#ffffff")]
        )
        self.colour = palette[rng.integers(0, len(palette), bursts)]
        ang = rng.uniform(0, 2 * np.pi, (bursts, particles))
        spd = rng.uniform(20, 55, (bursts, particles)) * c.s
        self.vx, self.vy = np.cos(ang) * spd, np.sin(ang) * spd

    def draw(self, img, t):
        c = self.c
        for i, t0 in enumerate(self.times):
            dt = t - t0
            if dt < -0.6 or dt > 2.5:
                continue
            if dt < 0:  # the rocket climbs
                k = 1 + dt / 0.6
                paint_glow(
                    c,
                    img,
                    self.cx[i],
                    c.h - k * (c.h - self.cy[i]),
                    1.5 * c.s,
                    rgb("#ffe0a0"),
                    0.8,
                )
                continue
            x = self.cx[i] + self.vx[i] * dt * (1.0 - 0.25 * dt)
            y = self.cy[i] + self.vy[i] * dt * (1.0 - 0.25 * dt) + 9.0 * c.s * dt * dt
            fade = max(0.0, 1.0 - dt / 2.5)
            paint_dots(c, img, x, y, self.colour[i], fade, size=max(1, int(2 * c.s)))
            if dt < 0.3:
                paint_glow(
                    c, img, self.cx[i], self.cy[i], 25 * c.s, self.colour[i], 0.5 * (1 - dt / 0.3)
                )


class Runner(Layer):
    def setup(self, y=0.78, speed=70.0, colour="#f0f0f0"):
        self.y, self.speed, self.colour = y * self.c.h, speed * self.c.s, rgb(colour)

    def paint(self, bg):
        c = self.c
        bg[int(self.y - 14 * c.s) :] = rgb("#b0432e")
        for k in range(5):
            bg[int(self.y - 14 * c.s + k * 9 * c.s)] = rgb("#f2e6d0")
        bg[int(0.35 * c.h) : int(self.y - 14 * c.s)] = rgb("#3c4a5c")
        stands = c.rng.random((int(self.y - 14 * c.s) - int(0.35 * c.h), c.w)) < 0.35
        crowd = bg[int(0.35 * c.h) : int(self.y - 14 * c.s)]
        crowd[stands] = (
            crowd[stands] * 0.7 + c.rng.random((int(stands.sum()), 3)).astype(np.float32) * 0.3
        )

    def draw(self, img, t):
        c = self.c
        x = (20 * c.s + self.speed * t) % (c.w + 40 * c.s) - 20 * c.s
        stride = np.sin(2 * np.pi * 2.6 * t)
        hip_y = self.y - 12 * c.s - abs(stride) * 1.5 * c.s
        col = self.colour
        paint_disc(c, img, x + 2 * c.s, hip_y - 16 * c.s, 3.2 * c.s, col)  # head
        paint_lines(c, img, [x], [hip_y], [x + 2 * c.s], [hip_y - 12 * c.s], col, steps=14)  # body
        legs = [(x, hip_y, x + 7 * stride * c.s, self.y), (x, hip_y, x - 7 * stride * c.s, self.y)]
        arms = [
            (x + 1.5 * c.s, hip_y - 10 * c.s, x + 1.5 * c.s - 6 * stride * c.s, hip_y - 4 * c.s),
            (x + 1.5 * c.s, hip_y - 10 * c.s, x + 1.5 * c.s + 6 * stride * c.s, hip_y - 4 * c.s),
        ]
        for x0, y0, x1, y1 in legs + arms:
            for off in (0.0, 1.0):
                paint_lines(c, img, [x0 + off], [y0], [x1 + off], [y1], col, steps=14)


class Fire(Layer):
    def setup(self, x=0.5, base=0.82, size=1.0, sparks=True):
        self.cx, self.base, self.size, self.sparks = (
            x * self.c.w,
            base * self.c.h,
            size * self.c.s,
            sparks,
        )
        rng = self.c.rng
        self.spark_x = rng.normal(0, 6, 40) * self.size
        self.spark_t = rng.uniform(0, 2.0, 40)
        self.spark_v = rng.uniform(20, 40, 40) * self.size

    def paint(self, bg):
        c = self.c
        for k in range(5):  # logs
            paint_lines(
                c,
                bg,
                [self.cx - 14 * self.size + k],
                [self.base + 2 * self.size],
                [self.cx + 14 * self.size - k],
                [self.base - 2 * self.size],
                rgb("#3a2414"),
                steps=40,
            )

    def draw(self, img, t):
        c = self.c
        flick = (
            1.0
            + 0.18
            * np.sin(2 * np.pi * np.array([3.1, 4.7, 6.3, 8.9]) * t + np.array([0, 1, 2, 3])).sum()
            / 2
        )
        paint_glow(
            c,
            img,
            self.cx,
            self.base - 10 * self.size,
            40 * self.size,
            rgb("#ff7a20"),
            0.25 * flick,
        )
        for i, (dx, h, col) in enumerate(
            ((0, 26, "#ff5a10"), (-5, 18, "#ff8a20"), (5, 20, "#ff8a20"), (0, 12, "#ffe070"))
        ):
            sway = 2.5 * self.size * np.sin(2 * np.pi * (1.3 + i) * t + i)
            hh = h * self.size * (0.85 + 0.15 * np.sin(2 * np.pi * (2.1 + 0.7 * i) * t + 2 * i))
            for k in (0.0, 0.3, 0.6, 0.9):
                paint_glow(
                    c,
                    img,
                    self.cx + dx * self.size + sway * k,
                    self.base - hh * k,
                    (7 - 5 * k) * self.size,
                    rgb(col),
                    0.55,
                )
        if self.sparks:
            age = (t + self.spark_t) % 2.0
            paint_dots(
                c,
                img,
                self.cx + self.spark_x + 4 * np.sin(age * 5) * self.size,
                self.base - 20 * self.size - self.spark_v * age,
                rgb("#ffc060"),
                np.clip(1 - age / 2.0, 0, 1),
            )


class Spotlights(Layer):
    def setup(self, n=4, colours=("#ff2080", "#20c0ff", "#a0ff20", "#ffb020"), strobe=True):
        self.cols = [rgb(h) for h in colours[:n]]
        rng = self.c.rng
        self.src_x = np.linspace(0.15, 0.85, n) * self.c.w
        self.f = rng.uniform(0.15, 0.35, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.strobe = strobe
        # Beams are soft: draw them at half resolution from precomputed angle fields.
        ys, xs = self.c.y[::2, ::2], self.c.x[::2, ::2]
        self.angles = [np.arctan2(xs - x, ys + 1.0) for x in self.src_x]
        self.falloff = 0.5 * (1 - 0.5 * ys / self.c.h)

    def draw(self, img, t):
        c = self.c
        beams = np.zeros(self.angles[0].shape + (3,), np.float32)
        for i, col in enumerate(self.cols):
            ang = 0.6 * np.sin(2 * np.pi * self.f[i] * t + self.ph[i])
            beam = np.clip(1 - np.abs(self.angles[i] - ang) / 0.12, 0, 1)
            beams += (beam * beam * self.falloff)[..., None] * col
        img.reshape(c.h // 2, 2, c.w // 2, 2, 3)[...] += beams[:, None, :, None, :]
        if self.strobe and (t * 124 / 60 * 2) % 2 < 0.15:  # a strobe on every other eighth note
            img += 0.25


class Crowd(Layer):
    """A band of heads that bob, e.g. the front of a dance floor or a stand."""

    def setup(self, top=0.78, n=60, bob=2.0, rate=2.07, colour="#141018"):
        rng, c = self.c.rng, self.c
        self.xs = np.linspace(0, c.w, n) + rng.normal(0, 2, n)
        self.base = top * c.h
        self.r = rng.uniform(4, 6, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.bob, self.rate, self.colour = bob * c.s, rate, rgb(colour)

    def draw(self, img, t):
        c = self.c
        ys = self.base - self.bob * np.abs(np.sin(np.pi * self.rate * t + self.ph))  # (n,)
        dx = c.x[0][None, :] - self.xs[:, None]  # (n, W)
        inside = np.clip(self.r[:, None] ** 2 - dx * dx, 0.0, None)
        heads = np.where(inside > 0, ys[:, None] - np.sqrt(inside), np.inf)
        shoulders = np.where(
            np.abs(dx) < 1.3 * self.r[:, None], ys[:, None] + 0.6 * self.r[:, None], np.inf
        )
        top = np.minimum(heads.min(axis=0), shoulders.min(axis=0))  # (W,)
        mask = c.y >= top[None, :]
        img[mask] = self.colour


class Road(Layer):
    """A straight road to a vanishing point, its centre dashes rushing towards the viewer."""

    def setup(self, horizon=0.55, speed=1.2):
        self.h0, self.speed = horizon, speed

    def paint(self, bg):
        c = self.c
        y0 = int(self.h0 * c.h)
        depth = (c.y[y0:] - y0 + 1) / (c.h - y0)
        road = np.abs(c.x[y0:] - c.w / 2) < depth * c.w * 0.45
        bg[y0:][~road] = rgb("#1c1a28")
        bg[y0:][road] = rgb("#2a2a30")

    def draw(self, img, t):
        c = self.c
        y0 = int(self.h0 * c.h)
        depth = (c.y[y0:] - y0 + 1) / (c.h - y0)
        z = 1.0 / depth
        dash = (np.sin(2 * np.pi * (z * 1.5 + self.speed * t * 3)) > 0.2) & (
            np.abs(c.x[y0:] - c.w / 2) < depth * 3 * c.s
        )
        img[y0:][dash] = rgb("#f0e6a0")
        edge = np.abs(np.abs(c.x[y0:] - c.w / 2) - depth * c.w * 0.42) < depth * 2 * c.s
        img[y0:][edge] = rgb("#d0d0d0")


class Warp(Layer):
    def setup(self, n=260, speed=0.5):
        rng = self.c.rng
        self.ang = rng.uniform(0, 2 * np.pi, n)
        self.z0 = rng.uniform(0, 1, n)
        self.speed = speed
        self.tint = np.where(rng.random(n)[:, None] < 0.2, rgb("#a0c0ff"), rgb("#ffffff"))

    def draw(self, img, t):
        c = self.c
        z = (self.z0 + self.speed * t) % 1.0
        r = (z**3) * 1.2 * c.w * 0.6 + 2
        r_tail = ((np.clip(z - 0.05, 0, 1)) ** 3) * 1.2 * c.w * 0.6 + 2
        cx, cy = c.w / 2, c.h / 2
        x1, y1 = cx + r * np.cos(self.ang), cy + r * np.sin(self.ang)
        x0, y0 = cx + r_tail * np.cos(self.ang), cy + r_tail * np.sin(self.ang)
        paint_lines(
            c, img, x0, y0, x1, y1, self.tint.mean(axis=0), np.clip(z * 1.5, 0.1, 1), steps=8
        )


class Candles(Layer):
    def setup(self, xs=(0.4, 0.6), base=0.7):
        self.xs, self.base = xs, base

    def paint(self, bg):
        c = self.c
        bg[int(self.base * c.h + 18 * c.s) :] = rgb("#3a1e10")  # the table
        for x in self.xs:
            x0 = int(x * c.w - 4 * c.s)
            bg[int(self.base * c.h) : int(self.base * c.h + 20 * c.s), x0 : x0 + int(8 * c.s)] = (
                rgb("#efe6d2")
            )

    def draw(self, img, t):
        c = self.c
        for i, x in enumerate(self.xs):
            flick = (
                1
                + 0.12 * np.sin(2 * np.pi * (5.3 + i) * t)
                + 0.08 * np.sin(2 * np.pi * (9.1 + 2 * i) * t + i)
            )
            cx, cy = (
                x * c.w + 0.8 * c.s * np.sin(2 * np.pi * 1.7 * t + i),
                self.base * c.h - 5 * c.s,
            )
            paint_glow(c, img, cx, cy, 40 * c.s, rgb("#ff9a40"), 0.22 * flick)
            paint_glow(c, img, cx, cy, 2.5 * c.s, rgb("#ffd070"), 1.0)
            paint_glow(c, img, cx, cy - 3 * c.s * flick, 1.8 * c.s, rgb("#fff0c0"), 1.0)


class Court(Layer):
    def setup(self, floor=0.6):
        rng, c = self.c.rng, self.c
        self.floor = floor
        self.px = rng.uniform(0.1, 0.9, 8) * c.w
        self.pv = rng.uniform(-40, 40, 8) * c.s
        self.team = np.arange(8) % 2
        self.bounce = 0.55  # seconds per dribble
        self.times: np.ndarray = np.arange(0.2, c.duration, self.bounce)

    def paint(self, bg):
        c, rng = self.c, self.c.rng
        y0 = int(self.floor * c.h)
        bg[:y0] = rgb("#262a36")
        stand = bg[int(0.12 * c.h) : y0]
        dots = rng.random(stand.shape[:2]) < 0.4
        stand[dots] = stand[dots] * 0.6 + rng.uniform(0.1, 0.5, (int(dots.sum()), 3)).astype(
            np.float32
        )
        bg[y0:] = rgb("#c8945a")
        bg[y0 + int(3 * c.s)] = rgb("#ffffff")
        mid = int(c.w / 2)
        bg[y0:, mid : mid + 1] = rgb("#ffffff")

    def draw(self, img, t):
        c = self.c
        x = (self.px + self.pv * t) % c.w
        feet = self.floor * c.h + 30 * c.s
        cols = np.where(self.team[:, None] == 0, rgb("#e03030"), rgb("#f0f0f0"))
        for i in range(len(x)):
            y_top = int(feet - 26 * c.s)
            img[y_top : int(feet), int(max(0, x[i] - 3 * c.s)) : int(max(0, x[i] + 3 * c.s))] = (
                cols[i]
            )
            paint_disc(c, img, x[i], y_top - 3 * c.s, 3 * c.s, rgb("#8a5a3a"))
        carrier = int(t // 2.0) % len(x)
        phase = (t % self.bounce) / self.bounce
        ball_y = feet - 2 * c.s - 14 * c.s * (1 - (2 * phase - 1) ** 2)
        paint_disc(c, img, x[carrier] + 6 * c.s, ball_y, 2.6 * c.s, rgb("#e06a10"))


class WindowDrops(Layer):
    def setup(self, n=40, bokeh=28):
        rng, c = self.c.rng, self.c
        self.bx = rng.uniform(0, c.w, bokeh)
        self.by = rng.uniform(0.3, 0.9, bokeh) * c.h
        self.br = rng.uniform(6, 16, bokeh) * c.s
        palette = np.array([rgb(h) for h in ("#ffb050", "#ff5050", "#80c0ff", "#ffffff")])
        self.bc = palette[rng.integers(0, len(palette), bokeh)]
        self.dx = rng.uniform(0, c.w, n)
        self.dy0 = rng.uniform(0, c.h, n)
        self.dv = rng.uniform(5, 30, n) * c.s
        self.dr = rng.uniform(1.2, 2.8, n) * c.s

    def paint(self, bg):
        for x, y, r, col in zip(self.bx, self.by, self.br, self.bc, strict=True):
            paint_glow(self.c, bg, x, y, r * 0.6, col, 0.35)

    def draw(self, img, t):
        c = self.c
        y = (self.dy0 + self.dv * t) % (c.h + 10) - 5
        paint_lines(c, img, self.dx, y - 12 * c.s, self.dx, y, rgb("#a0b0c0"), 0.25, steps=10)
        paint_dots(c, img, self.dx - 1, y - 1, rgb("#c8d8e8"), 0.45, size=max(2, int(3 * c.s)))


class Wheel(Layer):
    def setup(self, cx=0.5, cy=0.45, radius=0.36, cars=12, speed=0.08):
        c = self.c
        self.cx, self.cy, self.r = cx * c.w, cy * c.h, radius * c.h
        self.n, self.speed = cars, speed
        palette = np.array(
            [rgb(h) for h in ("#ff4060", "#ffd040", "#40e0ff", "#80ff60", "#ff80ff")]
        )
        self.lc = palette[np.arange(48) % len(palette)]

    def paint(self, bg):
        c = self.c
        paint_lines(
            c,
            bg,
            [self.cx, self.cx],
            [self.cy, self.cy],
            [self.cx - 0.4 * self.r, self.cx + 0.4 * self.r],
            [c.h, c.h],
            rgb("#505868"),
            steps=80,
        )

    def draw(self, img, t):
        c = self.c
        a = 2 * np.pi * self.speed * t + np.arange(self.n) * 2 * np.pi / self.n
        xs, ys = self.cx + self.r * np.cos(a), self.cy + self.r * np.sin(a)
        paint_lines(
            c,
            img,
            np.full(self.n, self.cx),
            np.full(self.n, self.cy),
            xs,
            ys,
            rgb("#8890a0"),
            0.8,
            steps=40,
        )
        ring = 2 * np.pi * self.speed * t + np.arange(48) * 2 * np.pi / 48
        on = (np.sin(8 * t + np.arange(48) * 0.9) > -0.3).astype(np.float32)
        paint_dots(
            c,
            img,
            self.cx + self.r * np.cos(ring),
            self.cy + self.r * np.sin(ring),
            self.lc,
            on,
            size=2,
        )
        for x, y in zip(xs, ys, strict=True):
            paint_disc(c, img, x, y + 4 * c.s, 3 * c.s, rgb("#e05040"))


class Neon(Layer):
    def setup(self, signs=5):
        rng, c = self.c.rng, self.c
        palette = [rgb(h) for h in ("#ff2aa0", "#20f0ff", "#b040ff", "#ff6020", "#40ff90")]
        self.signs = []
        for i in range(signs):
            x, y = rng.uniform(0.05, 0.8) * c.w, rng.uniform(0.1, 0.5) * c.h
            self.signs.append(
                (
                    x,
                    y,
                    rng.uniform(20, 50) * c.s,
                    rng.uniform(6, 12) * c.s,
                    palette[i % len(palette)],
                    rng.uniform(0, c.duration),
                )
            )

    def draw(self, img, t):
        c = self.c
        for x, y, w, h, col, t_off in self.signs:
            on = not (0 < (t - t_off) % 3.0 < 0.12)
            if not on:
                continue
            paint_glow(c, img, x + w / 2, y + h / 2, w * 0.6, col, 0.35)
            img[int(y) : int(y + h), int(x) : int(x + w)] = (
                img[int(y) : int(y + h), int(x) : int(x + w)] * 0.3 + col * 0.9
            )
            ry = int(0.8 * c.h + (0.8 * c.h - y) * 0.3)  # wet-street reflection
            if ry < c.h:
                sl = img[ry : min(c.h, ry + int(h * 2)), int(x) : int(x + w)]
                sl += (
                    0.25
                    * col
                    * (
                        0.6
                        + 0.4
                        * np.sin(
                            c.x[ry : ry + sl.shape[0], int(x) : int(x) + sl.shape[1]] * 0.8 + 6 * t
                        )
                    )[..., None]
                )


class Lanterns(Layer):
    def setup(self, n=30, speed=9.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h * 1.3, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.size = rng.uniform(1.5, 3.5, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)

    def draw(self, img, t):
        c = self.c
        y = (self.y0 - self.v * t) % (c.h * 1.3)
        x = self.x0 + 4 * c.s * np.sin(0.5 * t + self.ph)
        flick = 0.85 + 0.15 * np.sin(7 * t + self.ph)
        for xi, yi, s, k in zip(x, y, self.size, flick, strict=True):
            paint_glow(c, img, xi, yi, s * 1.5, rgb("#ffb050"), 0.9 * k)


class Confetti(Layer):
    def setup(self, n=240, speed=30.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        palette = np.array(
            [rgb(h) for h in ("#ff3060", "#30d0ff", "#ffe030", "#60ff60", "#c060ff", "#ff9030")]
        )
        self.colour = palette[rng.integers(0, len(palette), n)]

    def draw(self, img, t):
        c = self.c
        y = (self.y0 + self.v * t) % c.h
        x = (self.x0 + 6 * c.s * np.sin(3 * t + self.ph)) % c.w
        spin = np.abs(np.sin(5 * t + self.ph))
        paint_dots(c, img, x, y, self.colour, 0.5 + 0.5 * spin, size=max(2, int(2 * c.s)))
