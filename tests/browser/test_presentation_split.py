"""``split_presentation`` (tests/browser/conftest.py), which parts the drift the probe measures
into the engine's frame timing and the page's placing of the sound, checked on timelines whose
truth is known: frames shown off their cadence by known amounts, sounds placed off by known
amounts, loops, a pause, a gap. No browser."""

from __future__ import annotations

import random
import statistics

from tests.browser.conftest import split_presentation


def _walk(rng: random.Random, jitter_ms: float, passes: list[list[float]]) -> list[dict]:
    """10 fps frames over consecutive passes of a clip; in each pass the sound is placed
    ``offsets[k]`` ms off the cadence for the k-th third of it (a switch or a re-alignment
    between); each frame is shown up to ``jitter_ms`` early or late. Returns probe samples whose
    ``truth`` is the page's part."""
    out, perf = [], 1000.0
    for offsets in passes:
        frames = 3 * 8
        for i in range(frames):
            media = i / 10
            e = rng.uniform(-jitter_ms, jitter_ms)
            page = offsets[i * len(offsets) // frames]
            shown = perf + i * 100 + e
            out.append({"perf": shown, "media": media, "d": (page + e) / 1000, "truth": page})
        perf += frames * 100 + 100  # the loop
    return out


def test_a_steady_engine_gives_the_page_its_own_drift_exactly():
    samples = _walk(random.Random(1), 0.0, [[5.0, -8.0, 2.0], [3.0]])
    passes = split_presentation(samples)
    assert [p["n"] for p in passes] == [24, 24]  # a loop splits, the switches do not
    got = [v for p in passes for v in p["page"]]
    assert all(abs(g - s["truth"]) < 1e-6 for g, s in zip(got, samples, strict=True))
    assert all(abs(v) < 1e-6 for p in passes for v in p["engine"])


def test_the_engine_part_is_taken_out_without_bias():
    """Over 300 walks with frames up to 17 ms off (headless Firefox), the page's part is found
    to within the error of a median of 24 frames: unbiased, and within 9 ms in 99% of walks."""
    errors = []
    for seed in range(300):
        samples = _walk(random.Random(seed), 17.0, [[5.0, -8.0, 2.0]])
        (only,) = split_presentation(samples)
        per_walk = [g - s["truth"] for g, s in zip(only["page"], samples, strict=True)]
        assert max(per_walk) - min(per_walk) < 1e-6  # one cadence error for the whole pass
        errors.append(per_walk[0])
    assert abs(statistics.mean(errors)) < 1.0, statistics.mean(errors)
    assert sorted(abs(e) for e in errors)[int(0.99 * len(errors))] < 9.0
    # what the raw drift would have said: off by the engine's whole jitter, frame by frame
    raw = [abs(s["d"] * 1000 - s["truth"]) for s in _walk(random.Random(0), 17.0, [[0.0]])]
    assert max(raw) > 10.0


def test_a_pause_a_gap_or_a_seek_begins_another_pass():
    def frame(perf, media):
        return {"perf": perf, "media": media, "d": 0.0}

    steady = [frame(1000 + 100 * i, 0.1 * i) for i in range(4)]
    paused = [frame(3000 + 100 * i, 0.4 + 0.1 * i) for i in range(4)]  # 1.7 s later, 0.1 s on
    gap = [frame(3800 + 100 * i, 1.2 + 0.1 * i) for i in range(3)]  # 500 ms without a frame
    seek = [frame(4100 + 100 * i, 0.2 + 0.1 * i) for i in range(3)]  # back to 0.2 s
    short = [frame(4900, 0.1), frame(5500, 0.7)]  # a seek, then a gap: one frame each, too few
    passes = split_presentation(steady + paused + gap + seek + short)
    assert [p["n"] for p in passes] == [4, 4, 3, 3]
