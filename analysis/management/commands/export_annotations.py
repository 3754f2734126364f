"""python manage.py export_annotations --study SLUG --out annotations.csv [--format
csv|json|parquet]
[--agreement agreement.csv] [--mode standard|mu-llama] [--bertscore-model PATH|none]

The descriptions are an export meant for sharing: participants by public id only (the recruiter
ids are in ``export_ratings --identifying-out``), and CSV cells a spreadsheet would run as a
formula are escaped."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.annotations import annotations_frame, study_vocabulary, tag_agreement, text_agreement
from analysis.exports import csv_text, pseudonymise
from survey.models import Study


class Command(BaseCommand):
    help = (
        "Export a study's descriptions in long format, and the agreement among annotators of "
        "each clip."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--format",
            choices=["csv", "json", "parquet"],
            default=None,
            help="default: from the file name",
        )
        parser.add_argument("--include-rejected", action="store_true")
        parser.add_argument(
            "--agreement", type=Path, help="also write pairwise text and tag agreement (CSV)"
        )
        parser.add_argument("--mode", choices=["standard", "mu-llama"], default="standard")
        parser.add_argument(
            "--bertscore-model",
            default="none",
            help="a local model folder for BERTScore, or 'none' (default) to skip it",
        )

    def handle(
        self,
        *args,
        study,
        out,
        format,
        include_rejected,
        agreement,
        mode,
        bertscore_model,
        **options,
    ):
        obj = Study.objects.filter(slug=study).first()
        if obj is None:
            raise CommandError(f"no study with slug {study!r}")
        fmt = format or out.suffix.lstrip(".").lower()
        if fmt not in ("csv", "json", "parquet"):
            raise CommandError(f"cannot tell the format of {out}; pass --format csv|json|parquet")
        frame = annotations_frame(study=obj, include_rejected=include_rejected)
        shared = pseudonymise(frame, free_text=True)  # the descriptions are the research data
        if frame.empty:
            self.stderr.write(f"{study}: no descriptions yet; writing an empty table")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "csv":
                out.write_text(csv_text(shared, header=True), encoding="utf-8")
            elif fmt == "json":
                shared.to_json(out, orient="records", indent=1)
            else:
                shared.to_parquet(out, index=False)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc}") from exc
        self.stdout.write(f"{len(frame)} descriptions -> {out}")
        if agreement:
            model = None if bertscore_model == "none" else bertscore_model
            from analysis.metrics.text import WordNetMissingError

            try:
                pairs = text_agreement(frame, mode=mode, bertscore_model=model)
            except WordNetMissingError as exc:
                raise CommandError(
                    f"the descriptions were written to {out}; the text agreement needs "
                    f"METEOR's WordNet: {exc}"
                ) from exc
            tags = tag_agreement(frame, study_vocabulary(obj))
            pairs.to_csv(agreement, index=False)
            tags_path = agreement.with_name(agreement.stem + "-tags.csv")
            tags.to_csv(tags_path, index=False)
            self.stdout.write(
                f"{len(pairs)} annotator pairs -> {agreement}; tag alpha -> {tags_path}"
            )
            if len(pairs):
                means = pairs.drop(columns=["clip", "annotator_a", "annotator_b"]).mean(
                    numeric_only=True
                )
                self.stdout.write(
                    "mean pairwise: "
                    + ", ".join(f"{k}={v:.3f}" for k, v in means.items() if v == v)
                )
