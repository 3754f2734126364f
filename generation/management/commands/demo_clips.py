"""python manage.py demo_clips FOLDER [--count 16] [--duration 10]

Practice material for a first study when you have no clips of your own: writes the demo's
synthetic scenes (drawn in Python, with a quiet ambient sound) as MP4 files into FOLDER, plus
FOLDER/captions.csv with a caption of each kind a study needs, ready for ``import_media FOLDER``
and ``import_captions FOLDER/captions.csv``. No ffmpeg, model or network needed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation import democontent
from generation.demo import DEMO_CAPTIONS_FILE, demo_clips_export


class Command(BaseCommand):
    help = (
        "Write the demo's synthetic clips (MP4, H.264 + AAC) and a captions.csv for them into a "
        "folder: practice material for import_media and import_captions."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="where to write them (made if missing)")
        parser.add_argument(
            "--count",
            type=int,
            default=16,
            help=f"how many clips, 1 to {len(democontent.SCENES)} (default 16: the paper's "
            "first form shows 15)",
        )
        parser.add_argument(
            "--duration", type=float, default=10.0, help="seconds per clip (default 10)"
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, folder: Path, count: int, duration: float, seed: int, **options):
        if duration <= 0 or duration > 120:
            raise CommandError("--duration must be more than 0 and at most 120 seconds")
        try:
            paths = demo_clips_export(
                folder, n_clips=count, duration_s=duration, seed=seed, progress=self.stdout.write
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(paths)} clips and {DEMO_CAPTIONS_FILE} in {folder}. Next: "
                f"python manage.py import_media {folder}; then python manage.py import_captions "
                f"{folder / DEMO_CAPTIONS_FILE}"
            )
        )
