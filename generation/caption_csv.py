"""A researcher's own captions from a plain CSV file (``import_captions``, the admin's upload).

One row per caption, with a header row. Columns (any order, names case-insensitive):

``clip``        the clip's key, as the admin's *Clips* list shows it (required)
``kind``        the caption kind, by its value (``msi_pred``) or by the name the admin shows
                ("MSI predicted by a trained MusiScene"), case-insensitive (required)
``text``        the caption (required, not empty)
``model``       the model that wrote it (optional; stored as the caption's model id)
``prompt``      the prompt it was written from (optional)
``provenance``  where it comes from in words, e.g. "typed by hand, standing in for MusiScene's
                prediction" (optional; default "imported from FILE, row N")

An ``msi_pred`` row needs a ``model`` or a ``provenance``: a stand-in prediction must say so.

The file is read and checked in full before anything is written: any error (an unknown clip or
kind, an empty text, a row that repeats another's clip and kind, bad encoding, a malformed line)
is reported with its row (the file's line number) and column, and nothing is imported. Rows then
meet the captions already stored:

* the same clip, kind and text is there already: nothing to do (running an import again is safe);
* the clip has another caption of that kind (not rejected): by default the row is *skipped* and
  reported, the stored caption kept; with ``replace`` the stored ones are *rejected* (kept, with a
  revision saying who rejected them, and never used again) and the row's caption is added.

Imported captions are unreviewed, or approved with ``approve``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from generation import services
from generation.models import Caption, CaptionKind, Clip

COLUMNS = ("clip", "kind", "text", "model", "prompt", "provenance")
REQUIRED = ("clip", "kind", "text")
#: Longest model id and provenance the caption's fields hold.
FIELD_MAX = {"model": 200, "provenance": 200}
#: Errors listed before the rest are summed up (a wrong file would list every row).
MAX_ERRORS = 50


class CaptionCSVError(Exception):
    """The file cannot be imported; ``errors`` says where and why, one line each."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass
class Row:
    line: int
    clip: Clip
    kind: str
    text: str
    model: str
    prompt: str
    provenance: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    existing: int = 0  # same clip, kind and text already stored
    skipped: list[str] = field(default_factory=list)  # another caption kept (no replace)
    replaced: int = 0  # stored captions rejected in favour of the row's
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        return (
            f"{self.rows} rows: {self.created} captions {verb} imported, {self.existing} there "
            f"already, {len(self.skipped)} skipped (the clip has another caption of that kind, "
            f"kept), {self.replaced} stored captions {verb} replaced (rejected, kept)"
        )


def kind_of(name: str) -> str | None:
    """A caption kind from its value or its label as the admin shows it; None if unknown."""
    wanted = " ".join(name.split()).casefold()
    for value, label in CaptionKind.choices:
        if wanted in (value.casefold(), str(label).casefold()):
            return value
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaptionCSVError(
            [
                f"row {line}: not UTF-8 text (byte {exc.start + 1} of the file); save the file "
                "as CSV UTF-8"
            ]
        ) from None


def read_rows(data: bytes, *, source: str = "the file") -> list[Row]:
    """The file's rows, checked against the database; raises ``CaptionCSVError`` listing every
    problem found (by row, i.e. the file's line number, and column)."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[str] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CaptionCSVError([f"row 1: malformed CSV ({exc})"]) from None
    if not header or not any(cell.strip() for cell in header):
        raise CaptionCSVError([f"{source} is empty: the first row must name the columns"])
    names = [cell.strip().casefold() for cell in header]
    unknown = [n for n in names if n and n not in COLUMNS]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise CaptionCSVError(
            [f"row 1 (header): {'; '.join(parts)}; the columns are {', '.join(COLUMNS)}"]
        )
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise CaptionCSVError([f"row 1 (header): column(s) named twice: {', '.join(repeated)}"])
    at = {n: i for i, n in enumerate(names) if n}

    raw: list[tuple[int, dict[str, str]]] = []
    while True:
        starts = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"row {starts}: malformed CSV ({exc}); check its quotes")
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines are allowed
        if len(cells) > len(names):
            errors.append(
                f"row {line}: {len(cells)} cells for {len(names)} columns (a comma in a text "
                "needs the text in double quotes)"
            )
            continue
        cells = cells + [""] * (len(names) - len(cells))
        raw.append((line, {n: cells[i].strip() for n, i in at.items()}))

    keys = {values["clip"] for _, values in raw}
    clips = {c.key: c for c in Clip.objects.filter(key__in=keys)}
    seen: dict[tuple[str, str], int] = {}
    rows: list[Row] = []
    for line, values in raw:
        bad = False
        clip = clips.get(values["clip"])
        if not values["clip"]:
            errors.append(f"row {line}, column clip: empty")
            bad = True
        elif clip is None:
            errors.append(f"row {line}, column clip: no clip {values['clip']!r} here")
            bad = True
        kind = kind_of(values["kind"])
        if kind is None:
            errors.append(
                f"row {line}, column kind: unknown kind {values['kind']!r}; known: "
                + ", ".join(f"{v} ({lbl})" for v, lbl in CaptionKind.choices)
            )
            bad = True
        if not values["text"]:
            errors.append(f"row {line}, column text: empty")
            bad = True
        for name, limit in FIELD_MAX.items():
            if len(values.get(name, "")) > limit:
                errors.append(f"row {line}, column {name}: longer than {limit} characters")
                bad = True
        if (
            kind == CaptionKind.MSI_PREDICTED
            and not values.get("model")
            and not values.get("provenance")
        ):
            errors.append(
                f"row {line}, columns model/provenance: an msi_pred caption needs the model "
                "that predicted it or a provenance saying what stands in for it"
            )
            bad = True
        if clip is not None and kind is not None:
            first = seen.setdefault((clip.key, kind), line)
            if first != line:
                errors.append(
                    f"row {line}, columns clip/kind: repeats row {first} ({clip.key}, {kind}); "
                    "one caption per clip and kind"
                )
                bad = True
        if not bad and clip is not None and kind is not None:  # not bad: both were found
            rows.append(
                Row(
                    line=line,
                    clip=clip,
                    kind=kind,
                    text=values["text"],
                    model=values.get("model", ""),
                    prompt=values.get("prompt", ""),
                    provenance=values.get("provenance", "")
                    or f"imported from {source}, row {line}"[:200],
                )
            )
    if not raw and not errors:
        errors.append(f"{source} has a header but no caption rows")
    if errors:
        if len(errors) > MAX_ERRORS:
            errors = errors[:MAX_ERRORS] + [f"... and {len(errors) - MAX_ERRORS} more errors"]
        raise CaptionCSVError(errors)
    return rows


def captions_import_csv(
    data: bytes,
    *,
    source: str = "the file",
    replace: bool = False,
    approve: bool = False,
    dry_run: bool = False,
    user: Any = None,
) -> ImportReport:
    """Import the captions of a CSV file (see the module's text); all or nothing.

    Raises ``CaptionCSVError`` and stores nothing when any row is wrong. ``dry_run`` checks and
    counts without storing. ``user`` is recorded on the revisions of replaced captions.
    """
    rows = read_rows(data, source=source)
    report = ImportReport(rows=len(rows), dry_run=dry_run)
    status = Caption.Status.APPROVED if approve else Caption.Status.UNREVIEWED
    with transaction.atomic():
        for row in rows:
            stored = Caption.objects.filter(clip=row.clip, kind=row.kind).exclude(
                status=Caption.Status.REJECTED
            )
            if stored.filter(text=row.text).exists():
                report.existing += 1
                continue
            if stored.exists():
                if not replace:
                    report.skipped.append(
                        f"row {row.line}: {row.clip.key} has a {row.kind} caption already; kept"
                    )
                    continue
                report.replaced += stored.count()
                if not dry_run:
                    services.captions_set_status(
                        captions=list(stored), status=Caption.Status.REJECTED, user=user
                    )
            report.created += 1
            if not dry_run:
                services.caption_add(
                    clip=row.clip,
                    kind=row.kind,
                    text=row.text,
                    model_id=row.model,
                    prompt=row.prompt,
                    author_note=row.provenance,
                    status=status,
                )
    return report


def demo_captions_csv(rows: list[dict[str, str]]) -> str:
    """CSV text in this module's layout (used by ``demo_clips`` for its clips)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return out.getvalue()
