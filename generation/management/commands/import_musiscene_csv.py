"""python manage.py import_musiscene_csv dataset.csv --ytids mullama_output1.json

Imports the captions of the CSV that MusiScene published (``Music Caption 1, Music Caption 2,
Video Caption, Mixtral Audio, Mixtral Video``) for the clips matched by YouTube id, which come
from the paired JSON (an object keyed by id in row order, or a list). Empty cells are allowed.
A malformed file is reported line by line and nothing is imported; rows whose clip is not here
are reported and skipped. Running it again adds nothing that is there already.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation import vacad


class Command(BaseCommand):
    help = "Import the published MusiScene captions CSV for the clips matched by YouTube id."

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path)
        parser.add_argument(
            "--ytids",
            type=Path,
            required=True,
            help="the paired JSON naming each row's YouTube id (e.g. mullama_output1.json)",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="fail when a row matches no clip (default: report it and import the rest)",
        )

    def handle(self, *args, csv: Path, ytids: Path, strict: bool, **options):
        from modeling.datasets import MusiSceneCSVError

        for path in (csv, ytids):
            if not path.is_file():
                raise CommandError(f"{path} is not a file")
        try:
            if strict:
                report = self._strict(csv, ytids)
            else:
                report = vacad.musiscene_csv_import(csv_path=csv, ytids=ytids)
        except MusiSceneCSVError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        for problem in report.problems:
            self.stderr.write(f"{csv}: {problem}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.rows} rows: {report.created} captions imported, {report.existing} there "
                "already, "
                f"{report.empty_cells} empty cells, {len(report.problems)} rows without a clip"
            )
        )

    def _strict(self, csv: Path, ytids: Path) -> vacad.ImportReport:
        from django.db import transaction

        with transaction.atomic():
            report = vacad.musiscene_csv_import(csv_path=csv, ytids=ytids)
            if report.problems:
                for problem in report.problems:
                    self.stderr.write(f"{csv}: {problem}")
                raise CommandError(
                    f"{len(report.problems)} rows match no single clip; nothing imported (--strict)"
                )
        return report
