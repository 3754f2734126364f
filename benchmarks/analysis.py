"""Benchmark of the analysis core: the full report at the paper's scale and at 10,000 participants.

Run: ``python benchmarks/analysis.py [--participants 10000] [--n-boot 10000]``. Prints the
seconds spent simulating, analysing (screening, descriptives with the cluster bootstrap,
tests, mixed models, agreement; with and without exclusions), rendering the HTML page and
writing the CSV bundle. Targets on a 2-core machine: under 10 s at the paper's scale (118
participants: 68 rate 15 x 3 = 45 tracks on form 1, 50 rate 8 x 2 = 16 on form 2) and under 2 min
(10,000 participants).
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.report import AnalysisSettings, analyze, build_report, write_csv_bundle  # noqa: E402
from analysis.simulate import PAPER_FORMS, FormDesign, simulate_study  # noqa: E402


def run(n_participants: int | None, n_boot: int) -> dict[str, float]:
    forms = PAPER_FORMS
    if n_participants is not None:
        share = n_participants * 68 // 118
        forms = (
            FormDesign("form1", PAPER_FORMS[0].conditions, 15, share),
            FormDesign("form2", PAPER_FORMS[1].conditions, 8, n_participants - share),
        )
    t0 = time.perf_counter()
    s = simulate_study(forms=forms, seed=0)
    t1 = time.perf_counter()
    settings = AnalysisSettings(n_boot=n_boot)
    a = analyze(s.ratings, s.participants, settings=settings)
    t2 = time.perf_counter()
    page = build_report(
        s.ratings,
        s.participants,
        design={"study": "benchmark"},
        provenance=[],
        settings=settings,
        analysis=a,
    )
    t3 = time.perf_counter()
    buf = io.BytesIO()
    write_csv_bundle(a, buf)
    t4 = time.perf_counter()
    return {
        "participants": len(s.participants),
        "ratings": int((~s.ratings["is_attention"]).sum()),
        "simulate_s": t1 - t0,
        "analyze_s": t2 - t1,
        "html_s": t3 - t2,
        "csv_zip_s": t4 - t3,
        "report_total_s": t4 - t1,
        "html_mb": len(page) / 1e6,
        "zip_mb": len(buf.getvalue()) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--n-boot", type=int, default=10_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for label, n, target in (
        ("paper scale (68 x 45 + 50 x 16 ratings)", None, 10.0),
        (f"{args.participants:,} participants", args.participants, 120.0),
    ):
        r = run(n, args.n_boot)
        verdict = "OK" if r["report_total_s"] < target else "SLOW"
        print(
            f"{label}: {r['participants']:,} participants, {r['ratings']:,} ratings, "
            f"n_boot {args.n_boot:,}"
        )
        print(
            f"  simulate {r['simulate_s']:.2f} s | analyse {r['analyze_s']:.2f} s | "
            f"html {r['html_s']:.2f} s | csv zip {r['csv_zip_s']:.2f} s"
        )
        print(
            f"  report total {r['report_total_s']:.2f} s (target < {target:.0f} s: {verdict}); "
            f"html {r['html_mb']:.1f} MB, zip {r['zip_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
