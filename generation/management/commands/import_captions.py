"""python manage.py import_captions captions.csv [--dry-run] [--replace] [--approve]

Imports one's own captions from a plain CSV file: columns clip, kind, text and, optionally,
model, prompt, provenance (see ``generation.caption_csv``). All or nothing: a file with any wrong
row is reported row by row and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation import caption_csv


class Command(BaseCommand):
    help = (
        "Import your own captions from a CSV file with the columns clip, kind, text and, "
        "optionally, model, prompt, provenance (all or nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path, help="the CSV file (UTF-8, a header row)")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and say what would happen"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help=(
                "when a clip already has a caption of the row's kind, reject the stored one "
                "(kept, never used) and add the row's (default: keep the stored one, skip the row)"
            ),
        )
        parser.add_argument(
            "--approve",
            action="store_true",
            help="store the captions approved (default: unreviewed)",
        )

    def handle(self, *args, csv: Path, dry_run: bool, replace: bool, approve: bool, **options):
        if not csv.is_file():
            raise CommandError(f"{csv} is not a file")
        try:
            report = caption_csv.captions_import_csv(
                csv.read_bytes(),
                source=csv.name,
                replace=replace,
                approve=approve,
                dry_run=dry_run,
            )
        except caption_csv.CaptionCSVError as exc:
            for error in exc.errors:
                self.stderr.write(f"{csv}: {error}")
            raise CommandError(f"nothing imported: {len(exc.errors)} problems in {csv}") from exc
        for line in report.skipped:
            self.stdout.write(f"{csv}: {line}")
        self.stdout.write(
            self.style.SUCCESS(("dry run, nothing stored: " if dry_run else "") + report.summary())
        )
