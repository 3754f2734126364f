"""python manage.py export_ratings --study SLUG --format csv|parquet|json --out PATH
[--participants-out PATH] [--include-free-text] [--identifying-out PATH]

Writes the study's long ratings table (one row per rating, plus one per attention check) in the
analysis core's column contract, and optionally the participants table, in the same format.
Both are pseudonymised (public participant ids, no recruiter ids or user agents; free-text
answers only with ``--include-free-text``). ``--identifying-out`` writes the separate table that
links public ids to recruiter ids, for the researcher's own records only.
``--out -`` writes CSV or JSON to standard output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.exports import FORMATS, export_table
from survey.management import study_by_slug  # noqa: F401  (used here and re-exported)


def writable_path(value: str, option: str) -> Path:
    """``value`` as a path whose folder exists and can be written, else a CommandError."""
    path = Path(value).expanduser()
    if path.is_dir():
        raise CommandError(f"{option} {value} is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CommandError(f"{option} {value}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"{option} {value}: no permission to write there")
    return path


class Command(BaseCommand):
    help = "Export a study's ratings (and participants) as CSV, Parquet or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG", help="the study's slug")
        parser.add_argument("--format", required=True, choices=FORMATS, help="csv, parquet or json")
        parser.add_argument(
            "--out", required=True, metavar="PATH", help="the ratings file ('-': standard output)"
        )
        parser.add_argument(
            "--participants-out", metavar="PATH", help="also write the participants table here"
        )
        parser.add_argument(
            "--include-free-text",
            action="store_true",
            help="keep free-text answers (comments) in the participants table",
        )
        parser.add_argument(
            "--identifying-out",
            metavar="PATH",
            help="also write the IDENTIFYING table (public id -> recruiter ids, user agent, "
            "free text): for your own records, never for publication",
        )

    def handle(
        self,
        *args,
        study: str,
        format: str,
        out: str,
        participants_out: str | None,
        include_free_text: bool = False,
        identifying_out: str | None = None,
        **options,
    ):
        the_study = study_by_slug(study)
        to_stdout = out == "-"
        if to_stdout and format == "parquet":
            raise CommandError("Parquet is binary: give a file with --out")
        targets = [("ratings", None if to_stdout else writable_path(out, "--out"))]
        if participants_out:
            targets.append(("participants", writable_path(participants_out, "--participants-out")))
        if identifying_out:
            targets.append(("identifying", writable_path(identifying_out, "--identifying-out")))
        for table, path in targets:
            try:
                if path is None:
                    n = export_table(
                        study=the_study,
                        table=table,
                        target=sys.stdout.buffer,
                        fmt=format,
                        free_text=include_free_text,
                    )
                else:
                    n = export_table(
                        study=the_study,
                        table=table,
                        target=path,
                        fmt=format,
                        free_text=include_free_text,
                    )
            except OSError as exc:
                raise CommandError(
                    f"cannot write {path or 'standard output'}: {exc.strerror or exc}"
                ) from exc
            where = "standard output" if path is None else str(path)
            message = f"{n:,} {table} rows of {the_study.slug} written to {where} ({format})"
            if n == 0:
                message += f": the study has no {table} yet"
            self.stderr.write(message) if path is None else self.stdout.write(message)
