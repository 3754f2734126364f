"""Coverage of the report's intervals and type-I error of its tests, by simulation.

Run: ``python benchmarks/coverage.py [--studies 200] [--participants 60] [--seed 0]``.

Simulates ``--studies`` studies of the paper's design (form 1: 15 clips x 3 conditions,
form 2: 8 clips x 2 conditions, ``--participants`` per form) from the rating model of
analysis.simulate (participant, clip and clip-by-condition effects; no careless raters),
once with the paper's means as the truth and once under the null (all conditions equal),
and prints for each interval method how often its 95 % interval held the truth (target
0.93-0.97) and for each test how often it rejected a true null at alpha 0.05 (target 0.05).
The truth of a condition is its expected rating after the 0-100 clipping
(analysis.validation). Methods: the mixed model with the maximal random effects (the
report's model) and with the old intercepts-only structure; the t interval on participant
means; Wilcoxon and Friedman over participants and over clips.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from analysis.validation import interval_coverage, null_designs, paper_scale  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--participants", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    designs = paper_scale(args.participants)
    pd.set_option("display.width", 160)
    for label, ds, seed in (
        ("paper's means (alternative)", designs, args.seed),
        ("all conditions equal (null)", null_designs(designs), args.seed + 1),
    ):
        t0 = time.perf_counter()

        def tick(done: int, t0: float = t0) -> None:
            if done % 20 == 0:
                print(f"  {done} studies, {time.perf_counter() - t0:.0f} s", file=sys.stderr)

        res = interval_coverage(ds, n_studies=args.studies, seed=seed, progress=tick)
        shape = ", ".join(
            f"{d.name} {d.n_clips} clips x {len(d.conditions)} conditions x "
            f"{d.n_participants} participants"
            for d in ds
        )
        elapsed = time.perf_counter() - t0
        print(f"\n== {label}: {args.studies} studies x 2 forms ({shape}), {elapsed:.0f} s")
        table = res.table()
        table["rate"] = table["rate"].round(3)
        print(table.to_string(index=False))
        print("models fitted:", res.fitted)
        if res.failures:
            print("fits that failed:", res.failures)


if __name__ == "__main__":
    main()
