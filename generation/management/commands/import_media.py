"""python manage.py import_media FOLDER [--csv segments.csv] [--label /m/04rlf] [--loudness -23]

Imports every video in FOLDER as a clip (key: the file name), or, with --csv, the segments of an
AudioSet-style list matched to files by YTID. Tracks in FOLDER/tracks/<condition>/<clip key>.<ext>
are imported too. A broken file is reported and skipped; nothing half-made is stored.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation import audioset, media, services
from generation.models import Clip, Condition

AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".mp3",
    ".m4a",
    ".aac",
    ".ogg",
    ".opus",
) + audioset.VIDEO_EXTENSIONS


def _slug(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:120] or "clip"


class Command(BaseCommand):
    help = (
        "Import clips (and tracks) from a folder, optionally filtered by an AudioSet-style "
        "segment list."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument(
            "--csv", type=Path, help="AudioSet-style list: YTID, start_seconds, end_seconds, labels"
        )
        parser.add_argument(
            "--label",
            action="append",
            default=[],
            help=(
                "keep only segments with this ontology label (repeatable), e.g. "
                f"{audioset.MUSIC_LABEL}"
            ),
        )
        parser.add_argument(
            "--skip-bad-lines",
            action="store_true",
            help=(
                "import the valid lines of a CSV that has malformed ones (default: import nothing)"
            ),
        )
        parser.add_argument(
            "--loudness",
            type=float,
            default=settings.DEFAULT_LOUDNESS_LUFS,
            help="loudness target of imported tracks (LUFS)",
        )

    def handle(
        self,
        *args,
        folder: Path,
        csv: Path | None,
        label: list[str],
        skip_bad_lines: bool,
        loudness: float,
        **options,
    ):
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        jobs: list[tuple[str, Path, dict]] = []
        if csv is not None:
            segments, errors = audioset.read_segments(csv)
            for err in errors:
                self.stderr.write(f"{csv}: {err}")
            if errors and not skip_bad_lines:
                raise CommandError(
                    f"{len(errors)} malformed lines in {csv}; nothing imported "
                    "(fix them, or pass --skip-bad-lines)"
                )
            if label:
                segments = [s for s in segments if set(label) & set(s.labels)]
            missing = 0
            for seg in segments:
                path = audioset.find_media(folder, seg)
                if path is None:
                    missing += 1
                    self.stderr.write(
                        f"{csv}: line {seg.line}: no file for {seg.youtube_id} in {folder}"
                    )
                    continue
                jobs.append(
                    (
                        seg.key,
                        path,
                        {
                            "source": Clip.Source.AUDIOSET,
                            "youtube_id": seg.youtube_id,
                            "start_s": seg.start_s,
                            "end_s": seg.end_s,
                            "labels": seg.labels,
                        },
                    )
                )
            self.stdout.write(f"{len(segments)} segments selected, {missing} without a file")
        else:
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in audioset.VIDEO_EXTENSIONS:
                    jobs.append((_slug(path.stem), path, {}))
        imported = skipped = failed = 0
        for key, path, extra in jobs:
            if Clip.objects.filter(key=key).exists():
                skipped += 1
                continue
            try:
                services.clip_import(path=path, key=key, title=path.stem, **extra)
            except (media.MediaError, ValidationError) as exc:
                failed += 1
                msg = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.stderr.write(f"{path.name}: not imported: {msg}")
            else:
                imported += 1
        t_imported, t_failed = self._import_tracks(folder / "tracks", loudness)
        self.stdout.write(
            self.style.SUCCESS(
                f"clips: {imported} imported, {skipped} already there, {failed} failed; "
                f"tracks: {t_imported} imported, {t_failed} failed"
            )
        )
        if failed or t_failed:
            raise CommandError(f"{failed + t_failed} files could not be imported (see above)")

    def _import_tracks(self, root: Path, loudness: float) -> tuple[int, int]:
        if not root.is_dir():
            return 0, 0
        imported = failed = 0
        for cond_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            condition = Condition.objects.filter(name=cond_dir.name).first()
            if condition is None:
                self.stderr.write(
                    f"tracks/{cond_dir.name}: no condition of that name; create it in the "
                    "admin "
                    "first"
                )
                failed += 1
                continue
            for path in sorted(cond_dir.iterdir()):
                if not (path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS):
                    continue
                clip = Clip.objects.filter(key=_slug(path.stem)).first()
                if clip is None:
                    self.stderr.write(
                        f"tracks/{cond_dir.name}/{path.name}: no clip with key {_slug(path.stem)!r}"
                    )
                    failed += 1
                    continue
                try:
                    services.track_import_file(
                        clip=clip, condition=condition, path=path, loudness_target_lufs=loudness
                    )
                except (media.MediaError, ValidationError) as exc:
                    failed += 1
                    msg = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                    self.stderr.write(f"tracks/{cond_dir.name}/{path.name}: not imported: {msg}")
                else:
                    imported += 1
        return imported, failed
