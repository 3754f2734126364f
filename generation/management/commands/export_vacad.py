"""python manage.py export_vacad OUT [--split 0.8] [--seed 0] [--split-name vacad] [--clips KEY ...]

Each row's part (train/test) comes from a split stored in the database (``--split-name``,
default ``vacad``), drawn once with ``--split`` and ``--seed`` and extended to new clips after:
``caption_clips --split NAME`` predicts MSI for its held-out clips and ``evaluate_captions
--split NAME`` scores only them, so nothing is evaluated that was trained on.

Writes the VACAD dataset: ``OUT/vacad.jsonl`` (read by ``python -m modeling.train_musiscene
--data OUT/vacad.jsonl``), the clips' audio in ``OUT/audio/``, and ``OUT/data/{train,test}.jsonl``
with a dataset card, which Hugging Face ``datasets`` loads with ``load_dataset("OUT")`` or
``load_dataset("json", data_dir="OUT/data")``. Each row: the clip key, YouTube id, start, end,
audio path, split, one caption of each kind (approved, else unreviewed; never rejected), the
human MSI descriptions and each caption's provenance.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation import vacad
from generation.models import Clip


class Command(BaseCommand):
    help = (
        "Export clips and their captions as the VACAD dataset (JSONL + a Hugging Face datasets "
        "folder)."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument(
            "--split", type=float, default=0.8, help="fraction of clips in train (0.8)"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the split (0)")
        parser.add_argument(
            "--split-name",
            default="vacad",
            help="the stored split to use (drawn the first time; default vacad)",
        )
        parser.add_argument("--clips", nargs="+", metavar="KEY", help="only these clips")

    def handle(
        self,
        *args,
        out: Path,
        split: float,
        seed: int,
        clips: list[str] | None,
        split_name: str,
        **options,
    ):
        queryset = Clip.objects.all()
        if clips:
            queryset = queryset.filter(key__in=clips)
            unknown = sorted(set(clips) - set(queryset.values_list("key", flat=True)))
            if unknown:
                raise CommandError(f"no clips with the keys {', '.join(unknown)}")
        try:
            report = vacad.vacad_export(
                out_dir=out, split=split, seed=seed, clips=queryset, split_name=split_name
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for reason in report.skipped:
            self.stderr.write(f"left out {reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.rows} clips exported to {out} ("
                + ", ".join(f"{n} {name}" for name, n in report.splits.items())
                + f"); {len(report.skipped)} left out"
            )
        )
