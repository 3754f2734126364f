"""AudioSet segment lists: ``YTID, start_seconds, end_seconds, positive_labels``.

The published files (``eval_segments.csv``, ``balanced_train_segments.csv`` ...) start with
comment lines (``# Segments csv created ...``) and quote the label list, which holds commas:
``--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

MUSIC_LABEL = "/m/04rlf"
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


@dataclass(frozen=True)
class Segment:
    youtube_id: str
    start_s: float
    end_s: float
    labels: tuple[str, ...]
    line: int

    @property
    def key(self) -> str:
        """A slug-safe clip key, e.g. ``yt-abc_DEF-12_30000`` (start in milliseconds)."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in self.youtube_id)
        return f"yt-{safe}_{round(self.start_s * 1000)}"


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def parse_segments(text: str) -> tuple[list[Segment], list[LineError]]:
    """Parse a segment list. Returns the segments and an error per malformed line (1-based)."""
    segments: list[Segment] = []
    errors: list[LineError] = []
    for lineno, raw in enumerate(io.StringIO(text), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            fields = next(csv.reader([stripped], skipinitialspace=True, strict=True))
        except csv.Error as exc:
            errors.append(LineError(lineno, f"not valid CSV ({exc})"))
            continue
        if len(fields) < 3:
            errors.append(
                LineError(
                    lineno,
                    "expected YTID, start_seconds, end_seconds[, labels], "
                    f"got {len(fields)} fields",
                )
            )
            continue
        if len(fields) > 4:
            errors.append(
                LineError(lineno, f'{len(fields)} fields: quote the label list ("/m/a,/m/b")')
            )
            continue
        ytid = fields[0].strip()
        if not ytid:
            errors.append(LineError(lineno, "empty YTID"))
            continue
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            errors.append(
                LineError(
                    lineno, f"start/end seconds are not numbers: {fields[1]!r}, {fields[2]!r}"
                )
            )
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            errors.append(LineError(lineno, f"bad segment times {start} - {end}"))
            continue
        labels = (
            tuple(lab.strip() for lab in fields[3].split(",") if lab.strip())
            if len(fields) == 4
            else ()
        )
        segments.append(Segment(ytid, start, end, labels, lineno))
    return segments, errors


def read_segments(path: Path | str) -> tuple[list[Segment], list[LineError]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [LineError(0, f"{path} is not UTF-8 text ({exc})")]
    return parse_segments(text)


def find_media(folder: Path, segment: Segment) -> Path | None:
    """The file of ``segment`` in ``folder``: named by YTID (``ID.mp4``, ``YID.mp4``) or by YTID and
    start (``ID_30.mp4``, ``ID_30.000.mp4``, ``ID_30000.mp4``)."""
    start = segment.start_s
    stems = [
        segment.youtube_id,
        f"Y{segment.youtube_id}",
        f"{segment.youtube_id}_{start:g}",
        f"{segment.youtube_id}_{start:.3f}",
        f"{segment.youtube_id}_{int(start)}",
        f"{segment.youtube_id}_{round(start * 1000)}",
    ]
    for stem in dict.fromkeys(stems):
        for ext in VIDEO_EXTENSIONS:
            candidate = folder / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
    return None
