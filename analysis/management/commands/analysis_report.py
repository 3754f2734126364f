"""python manage.py analysis_report --study SLUG --out report.html [--bundle tables.zip] [--seed 0]
    [--max-attention-failures N|off] [--flat-sd-below X|off] [--min-trial-duration-s X|off] ...

One self-contained HTML page (works offline) with the statistics of the study's ratings, with
and without post-screening, the exclusion log, the design, the provenance of every condition's
tracks and the software versions; ``--bundle`` also writes every table as CSV in a zip. Both are
meant for publication and pseudonymised: public participant ids only, no recruiter ids, and
free-text answers only with ``--include-free-text``.
The post-screening thresholds are options (``analysis.report_options``); ``off`` switches a
rule off.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from analysis import report_options
from analysis.management.commands.export_ratings import study_by_slug, writable_path
from analysis.report import AnalysisSettings
from analysis.study_report import study_report, write_report_bundle


class Command(BaseCommand):
    help = (
        "Write the analysis report of a study (HTML, offline) and optionally its tables (CSV zip)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG", help="the study's slug")
        parser.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write")
        parser.add_argument(
            "--bundle", metavar="PATH", help="also write every table as CSV into this zip"
        )
        parser.add_argument(
            "--include-free-text",
            action="store_true",
            help="keep participants' free-text comments in the bundle (opt-in)",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the bootstrap and the samples (default 0)"
        )
        parser.add_argument(
            "--n-boot",
            type=int,
            default=10_000,
            help="bootstrap resamples for the intervals (default 10000)",
        )
        report_options.add_arguments(parser)

    def handle(
        self,
        *args,
        study: str,
        out: str,
        bundle: str | None,
        seed: int,
        n_boot: int,
        include_free_text: bool = False,
        **options,
    ):
        the_study = study_by_slug(study)
        if n_boot < 100:
            raise CommandError("--n-boot must be at least 100")
        html_path = writable_path(out, "--out")
        zip_path = writable_path(bundle, "--bundle") if bundle else None
        t0 = time.perf_counter()
        given = {
            o.name: options[o.name]
            for o in report_options.OPTIONS
            if options.get(o.name) is not None
        }
        try:
            screening = report_options.screening_from(given)
        except report_options.OptionError as exc:
            raise CommandError(str(exc)) from None
        report = study_report(
            study=the_study,
            settings=AnalysisSettings(seed=seed, n_boot=n_boot, screening=screening),
        )
        try:
            html_path.write_text(report.html, encoding="utf-8")
            if zip_path is not None:
                write_report_bundle(report, zip_path, free_text=include_free_text)
        except OSError as exc:
            raise CommandError(f"cannot write the report: {exc.strerror or exc}") from exc
        for note in report.notes:
            self.stderr.write(f"note: {note}")
        excluded = len(report.analysis.screening.excluded_participants)
        self.stdout.write(
            f"report of {the_study.slug}: {report.n_participants:,} participants with "
            f"{report.n_ratings:,} "
            f"ratings, {excluded:,} excluded by post-screening; written to {html_path}"
            + (f" and {zip_path}" if zip_path else "")
            + f" in {time.perf_counter() - t0:.1f} s"
        )
