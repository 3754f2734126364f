"""Parse the captions CSV that MusiScene published, paired with the JSON that names its clips.

The published ``data/dataset.csv`` has one row per clip and the columns::

    Music Caption 1, Music Caption 2, Video Caption, Mixtral Audio, Mixtral Video

(MU-LLaMA's answer to the music-description question, its answer to a longer question about the
context, the video caption, the fusion caption and the MSI caption). It has no clip id: the rows
are in the key order of the MU-LLaMA output JSON published beside it (``{ytid: {"pred", "q"}}``),
so the YouTube ids come from that file. A JSON list of ids in row order works as well.

Empty cells are allowed (the published MSI column is empty for its last 110 rows) and become
``None``. Every malformed row is reported with its line number in one :class:`MusiSceneCSVError`.

    >>> rows = parse_musiscene_csv("dataset.csv", "mullama_output1.json")  # doctest: +SKIP
    >>> rows[0].ytid, rows[0].captions()["msi"]                            # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# published column name -> field of MusiSceneRow
COLUMNS: dict[str, str] = {
    "Music Caption 1": "music_caption",
    "Music Caption 2": "music_context_caption",
    "Video Caption": "video_caption",
    "Mixtral Audio": "fusion_caption",
    "Mixtral Video": "msi_caption",
}
# a leading column that pandas' ``to_csv`` writes for the index, allowed and ignored
INDEX_HEADERS = ("", "Unnamed: 0", "index")
YTID = re.compile(r"[A-Za-z0-9_-]{11}")
MAX_REPORTED = 20


@dataclass(frozen=True)
class MusiSceneRow:
    """One clip of the published CSV; an empty cell is ``None``.

    Attributes:
        line: line of the CSV where the row starts (the header is line 1).
        ytid: the clip's YouTube id (from the paired JSON).
        music_caption: "Music Caption 1", MU-LLaMA describing mood, rhythm and genre.
        music_context_caption: "Music Caption 2", MU-LLaMA also asked about context and videos.
        video_caption: "Video Caption" (SwinBERT in the paper).
        fusion_caption: "Mixtral Audio", the fusion caption.
        msi_caption: "Mixtral Video", the MSI caption.
    """

    line: int
    ytid: str
    music_caption: str | None
    music_context_caption: str | None
    video_caption: str | None
    fusion_caption: str | None
    msi_caption: str | None

    def captions(self) -> dict[str, str | None]:
        """The captions by this project's kinds: video, music, fusion, msi (and music_context)."""
        return {
            "video": self.video_caption,
            "music": self.music_caption,
            "fusion": self.fusion_caption,
            "msi": self.msi_caption,
            "music_context": self.music_context_caption,
        }


@dataclass(frozen=True)
class RowError:
    line: int | None  # None for a problem of the whole file
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


class MusiSceneCSVError(ValueError):
    """The CSV or its paired JSON is malformed; ``errors`` lists every problem found."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:MAX_REPORTED])
        more = (
            f"\n  ... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        )
        super().__init__(
            f"{source}: {len(errors)} problem{'s' * (len(errors) != 1)}:\n{shown}{more}"
        )


def read_ytids(source: Path | str | bytes) -> list[str]:
    """YouTube ids in order from the paired JSON: an object (its keys, in file order) or a list.

    ``source`` is a path, or the JSON text itself as ``bytes``.
    """
    name = "the paired JSON" if isinstance(source, bytes) else str(source)
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        data = json.loads(raw)  # dicts keep the file's key order
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MusiSceneCSVError(name, [RowError(None, f"not valid JSON: {exc}")]) from exc
    if isinstance(data, dict):
        ids = list(data)
    elif isinstance(data, list) and all(isinstance(x, str) for x in data):
        ids = list(data)
    else:
        raise MusiSceneCSVError(
            name, [RowError(None, "expected an object keyed by YouTube id or a list of ids")]
        )
    return _checked_ids(ids, name)


def _checked_ids(ids: list[str], name: str) -> list[str]:
    errors = [
        RowError(None, f"entry {i + 1}: {ytid!r} is not an 11-character YouTube id")
        for i, ytid in enumerate(ids)
        if not (isinstance(ytid, str) and YTID.fullmatch(ytid))
    ]
    seen: set[str] = set()
    for i, ytid in enumerate(ids):
        if ytid in seen:
            errors.append(RowError(None, f"entry {i + 1}: YouTube id {ytid!r} appears twice"))
        seen.add(ytid)
    if errors:
        raise MusiSceneCSVError(name, errors)
    return ids


def parse_musiscene_csv(
    csv_source: Path | str | Iterable[str], ytids: Path | str | bytes | list[str]
) -> list[MusiSceneRow]:
    """The rows of a MusiScene captions CSV, each with its YouTube id.

    Args:
        csv_source: a path, or an iterable of text lines (e.g. an open file).
        ytids: the paired JSON (path or bytes), or the ids themselves in row order.

    Raises:
        MusiSceneCSVError: a bad header, a row with the wrong number of cells, or a row count
            that differs from the number of ids; every problem is listed with its line.
    """
    name = str(csv_source) if isinstance(csv_source, (str, Path)) else "the CSV"
    ids = (
        _checked_ids(list(ytids), "the YouTube ids")
        if isinstance(ytids, list)
        else read_ytids(ytids)
    )
    if isinstance(csv_source, (str, Path)):
        try:
            text = Path(csv_source).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MusiSceneCSVError(name, [RowError(None, f"not UTF-8 text: {exc}")]) from exc
        lines: Iterable[str] = io.StringIO(text, newline="")
    else:
        lines = csv_source
    reader = csv.reader(lines, strict=True)
    errors: list[RowError] = []
    try:
        header = next(reader)
    except StopIteration:
        raise MusiSceneCSVError(name, [RowError(None, "the file is empty (no header)")]) from None
    except csv.Error as exc:
        raise MusiSceneCSVError(name, [RowError(1, f"unreadable header: {exc}")]) from exc
    fields = _header_fields(header)
    if isinstance(fields, RowError):
        raise MusiSceneCSVError(name, [fields])
    width = len(header)
    records: list[tuple[int, list[str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, f"unreadable row: {exc}"))
            break  # the reader cannot resynchronise after a broken quote
        if cells:  # blank lines are not records
            if len(cells) != width:
                errors.append(
                    RowError(start, f"{len(cells)} cells, expected {width} ({', '.join(COLUMNS)})")
                )
            else:
                records.append((start, cells))
        start = reader.line_num + 1
    n_rows = len(records) + sum(1 for e in errors if e.line is not None)
    if not errors and n_rows != len(ids):
        errors.append(
            RowError(
                None,
                f"{n_rows} rows but {len(ids)} YouTube ids in the paired JSON: "
                "the rows cannot be matched to clips",
            )
        )
    if errors:
        raise MusiSceneCSVError(name, errors)
    return [
        MusiSceneRow(
            line=line,
            ytid=ytid,
            **{fields[i]: (cell.strip() or None) for i, cell in enumerate(cells) if i in fields},
        )
        for (line, cells), ytid in zip(records, ids, strict=True)
    ]


def _header_fields(header: list[str]) -> dict[int, str] | RowError:
    """Column index -> row field, from the header (one leading index column is allowed)."""
    names = [h.strip() for h in header]
    offset = 1 if names and names[0] in INDEX_HEADERS and len(names) == len(COLUMNS) + 1 else 0
    named = names[offset:]
    missing = [c for c in COLUMNS if c not in named]
    unknown = [c for c in named if c not in COLUMNS]
    duplicated = sorted({c for c in named if named.count(c) > 1})
    if missing or unknown or duplicated:
        parts = [
            f"missing {missing}" if missing else "",
            f"unknown {unknown}" if unknown else "",
            f"repeated {duplicated}" if duplicated else "",
        ]
        return RowError(
            1,
            f"the header must name the columns {list(COLUMNS)}: "
            + "; ".join(p for p in parts if p),
        )
    return {i + offset: COLUMNS[c] for i, c in enumerate(named)}
