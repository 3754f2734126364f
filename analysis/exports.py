"""A study's data out: the long ratings table and the participants table.

One file because every table here reads the same chunked participant queries and goes out through
the same writers (CSV with formula escaping, Parquet, JSON).

The tables follow the analysis core's column contract (``analysis/report.py``,
``analysis/screening.py``), so that what a researcher downloads is exactly what the report
analyses:

- :func:`ratings_frames` / :func:`ratings_frame`: one row per rating (``RATING_COLUMNS``),
  plus one row per attention check (``is_attention`` true, condition ``"attention"``, the
  value the participant set and whether that check passed), which the post-screening's
  attention rule reads. On rating rows ``attention_passed`` says whether the participant passed
  every attention check (empty when they had none).
- :func:`participants_frame`: one row per participant (``PARTICIPANT_COLUMNS`` first, then
  the rest of the questionnaire and the recruiter ids).
- :func:`write_frames` writes either as CSV, Parquet or JSON, chunk by chunk.

The report built from these tables is in ``analysis.study_report``.

Reads only: a handful of queries per 2,000 participants and never one per row, so the export of
10,000 participants streams in bounded memory.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from analysis.simulate import RATING_COLUMNS
from generation.models import Track
from survey.models import (
    DataDeletion,
    Participant,
    QualityCheck,
    Rating,
    Study,
    Trial,
    TrialResponse,
    TrialTrack,
    public_participant_id,
)
from survey.participation import LABELS, QUESTIONNAIRE_FIELDS

logger = logging.getLogger(__name__)

Format = Literal["csv", "parquet", "json"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}
ATTENTION_CONDITION = "attention"
CHUNK_PARTICIPANTS = 2000

#: The first columns of the participants table (the contract); more follow.
PARTICIPANT_COLUMNS: tuple[str, ...] = (
    "study",
    "form",
    "participant",
    "status",
    "started_at",
    "completed_at",
    "age_range",
    "device",
    "music_training",
    "headphone_passed",
)
PARTICIPANT_EXTRA_COLUMNS: tuple[str, ...] = (
    "simulated",
    "timing_flag",
    "prolific_pid",
    "study_id",
    "session_id",
    "stage",
    "screened_out_reason",
    "consented_at",
    "n_ratings",
    "attention_checks",
    "attention_failures",
    "attention_passed",
)

_RATING_DTYPES: dict[str, str] = {
    "study": "object",
    "form": "object",
    "participant": "object",
    "prolific_pid": "object",
    "study_id": "object",
    "session_id": "object",
    "clip": "object",
    "condition": "object",
    "track": "Int64",
    "value": "float64",
    "position": "int64",
    "trial_order": "int64",
    "listening_s": "float64",
    "started_at": "datetime64[us, UTC]",
    "submitted_at": "datetime64[us, UTC]",
    "is_attention": "bool",
    "attention_passed": "boolean",
    "headphone_passed": "boolean",
    "trial_duration_s": "float64",
    "language": "object",
}
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


# -- personal data (docs/how-to/ops/data-protection.md) -----------------------------------------
#: Columns that identify a person outside this platform: only in the ``identifying`` table.
IDENTIFYING_COLUMNS: tuple[str, ...] = ("prolific_pid", "study_id", "session_id", "user_agent")
#: Questionnaire answers with a fixed set of choices; any other answer key is free text, which
#: publishable outputs carry only when the researcher opts in (``free_text=True``).
CHOICE_ANSWERS: tuple[str, ...] = ("age_range", "device", "music_training")


def pseudonymise(df: pd.DataFrame, *, free_text: bool = False) -> pd.DataFrame:
    """``df`` as it may be shared: participants only by public id, no recruiter ids or user
    agents, and free-text answers only with ``free_text``."""
    drop = [c for c in IDENTIFYING_COLUMNS if c in df.columns]
    if not free_text:
        drop += [c for c in df.columns if c in FREE_TEXT_COLUMNS]
    return df.drop(columns=drop)


FREE_TEXT_COLUMNS: tuple[str, ...] = ("comment",)


def identifying_frame(*, study: Study) -> pd.DataFrame:
    """The researcher's own records: public id beside the recruiter's ids, the user agent and
    the free-text answers. Never part of a report or a publishable export."""
    rows = []
    for pk, pid, study_ext, session_ext, ua, answers, status in (
        Participant.objects.filter(study=study)
        .order_by("id")
        .values_list(
            "id",
            "prolific_pid",
            "external_study_id",
            "external_session_id",
            "user_agent",
            "answers",
            "status",
        )
    ):
        answers = answers if isinstance(answers, dict) else {}
        free = {k: str(v) for k, v in answers.items() if k not in CHOICE_ANSWERS}
        rows.append(
            {
                "participant": public_participant_id(pk),
                "status": status,
                "prolific_pid": pid,
                "study_id": study_ext,
                "session_id": session_ext,
                "user_agent": ua,
                "comment": free.pop("comment", None),
                "other_answers": json.dumps(free, ensure_ascii=False) if free else None,
            }
        )
    columns = [
        "participant",
        "status",
        "prolific_pid",
        "study_id",
        "session_id",
        "user_agent",
        "comment",
        "other_answers",
    ]
    return pd.DataFrame(rows, columns=columns).astype(object)


class ExportError(ValueError):
    """An export or report that cannot be made as asked; the message says why."""


# --------------------------------------------------------------------------------------------
# the long ratings table


def _typed(df: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for col, dtype in dtypes.items():
        s = df[col] if col in df.columns else pd.Series(pd.NA, index=df.index, dtype="object")
        if dtype.startswith("datetime64"):
            s = pd.to_datetime(s, utc=True).astype(dtype)
        elif dtype == "object":
            s = s.astype("object").where(s.notna(), None)
        else:
            s = s.astype(dtype)
        out[col] = s
    return out.reset_index(drop=True)


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")


def _empty_ratings() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in RATING_COLUMNS}), _RATING_DTYPES)


@dataclass(frozen=True)
class _Dims:
    """The study's small lookup tables, loaded once per export."""

    trial_clip: dict[int, str]
    trial_form: dict[int, str]
    track_condition: dict[int, str]


def _dims(study: Study) -> _Dims:
    trials = list(
        Trial.objects.filter(form__study=study).values_list("id", "clip__key", "form__name")
    )
    tracks = TrialTrack.objects.filter(trial__form__study=study).values_list(
        "track_id", "condition__name"
    )
    return _Dims(
        trial_clip={t: c for t, c, _ in trials},
        trial_form={t: f for t, _, f in trials},
        track_condition=dict(tracks),
    )


def _participant_chunks(study: Study, size: int) -> Iterator[tuple[int, int]]:
    ids = list(Participant.objects.filter(study=study).order_by("id").values_list("id", flat=True))
    for i in range(0, len(ids), size):
        yield ids[i], ids[min(i + size, len(ids)) - 1]


def _ratings_chunk(study: Study, lo: int, hi: int, dims: _Dims) -> pd.DataFrame:
    in_chunk = Q(participant__study=study, participant_id__gte=lo, participant_id__lte=hi)
    people = {  # the participant's public id, never the code that opens their session
        pid: (public_participant_id(pid), *row)
        for pid, *row in Participant.objects.filter(
            study=study, id__gte=lo, id__lte=hi
        ).values_list(
            "id",
            "prolific_pid",
            "external_study_id",
            "external_session_id",
            "form__name",
            "headphone_passed",
            "label_order",
            "language",
        )
    }
    ratings = pd.DataFrame.from_records(
        list(
            Rating.objects.filter(in_chunk).values_list(
                "id",
                "participant_id",
                "trial_id",
                "track_id",
                "value",
                "position",
                "trial_order",
                "listening_s",
                "language",
            )
        ),
        columns=[
            "id",
            "pid",
            "trial_id",
            "track",
            "value",
            "position",
            "trial_order",
            "listening_s",
            "language",
        ],
    ).astype({"pid": "int64", "trial_order": "int64"})
    responses = pd.DataFrame.from_records(
        list(
            TrialResponse.objects.filter(in_chunk).values_list(
                "participant_id",
                "sequence_index",
                "kind",
                "trial_id",
                "duration_s",
                "shown_at",
                "submitted_at",
            )
        ),
        columns=[
            "pid",
            "trial_order",
            "kind",
            "trial_id",
            "trial_duration_s",
            "shown_at",
            "submitted_at",
        ],
    ).astype({"pid": "int64", "trial_order": "int64"})
    checks: dict[tuple[int, int | None], bool] = {}
    values: dict[tuple[int, int | None], float] = {}
    passed_all: dict[int, bool] = {}
    for pid, passed, details in (
        QualityCheck.objects.filter(in_chunk, kind=QualityCheck.Kind.ATTENTION)
        .order_by("id")
        .values_list("participant_id", "passed", "details")
    ):
        details = details if isinstance(details, dict) else {}
        key = (pid, details.get("index"))
        checks[key] = bool(passed)
        if isinstance(details.get("value"), int | float):
            values[key] = float(details["value"])
        passed_all[pid] = passed_all.get(pid, True) and bool(passed)

    trial_resp = responses.loc[
        responses["kind"] == TrialResponse.Kind.TRIAL,
        ["pid", "trial_order", "trial_duration_s", "shown_at", "submitted_at"],
    ]
    r = ratings.merge(trial_resp, on=["pid", "trial_order"], how="left")
    r["started_at"] = _utc(r["shown_at"])
    r["submitted_at"] = _utc(r["submitted_at"])
    if r["submitted_at"].isna().any():
        # Ratings without a response (made outside the participant services): their own times.
        # Only those are read, since converting timestamps is most of an export's time.
        own = pd.DataFrame.from_records(
            list(
                Rating.objects.filter(in_chunk)
                .filter(
                    ~Exists(
                        TrialResponse.objects.filter(
                            participant_id=OuterRef("participant_id"),
                            sequence_index=OuterRef("trial_order"),
                        )
                    )
                )
                .values_list("id", "trial_started_at", "created_at")
            ),
            columns=["id", "rating_started_at", "created_at"],
        )
        own = own.set_index("id")
        r["started_at"] = r["started_at"].fillna(_utc(r["id"].map(own["rating_started_at"])))
        r["submitted_at"] = r["submitted_at"].fillna(_utc(r["id"].map(own["created_at"])))
    unknown = set(r["track"]) - set(dims.track_condition)
    if unknown:  # a rated track outside the design's trial tracks (never made by the services)
        dims.track_condition.update(
            Track.objects.filter(id__in=sorted(unknown)).values_list("id", "condition__name")
        )
    r["condition"] = r["track"].map(dims.track_condition)
    r["is_attention"] = False
    r["attention_passed"] = r["pid"].map(passed_all)

    att = responses.loc[responses["kind"] == TrialResponse.Kind.ATTENTION]
    if len(att):
        listening = dict(
            ((p, i), lst)
            for p, i, lst in TrialResponse.objects.filter(
                in_chunk, kind=TrialResponse.Kind.ATTENTION
            ).values_list("participant_id", "sequence_index", "listening")
        )
        rows = []
        for a in att.itertuples(index=False):
            key = (a.pid, a.trial_order)
            heard = listening.get(key) or {}
            shown = (people[a.pid][6] or {}).get(str(a.trial_id)) or [None]
            rows.append(
                {
                    "pid": a.pid,
                    "trial_id": a.trial_id,
                    "track": shown[0],
                    "value": values.get(key, np.nan),
                    "position": 0,
                    "trial_order": a.trial_order,
                    "listening_s": float(heard.get(LABELS[0], 0.0))
                    if isinstance(heard, dict)
                    else 0.0,
                    "started_at": a.shown_at,
                    "submitted_at": a.submitted_at,
                    "trial_duration_s": a.trial_duration_s,
                    "condition": ATTENTION_CONDITION,
                    "is_attention": True,
                    "attention_passed": checks.get(key, pd.NA),
                    "language": people[a.pid][7],  # the participant's: attention has no rating
                }
            )
        r = pd.concat([r, pd.DataFrame(rows)], ignore_index=True) if len(r) else pd.DataFrame(rows)
    if r.empty:
        return _empty_ratings()
    r = r.sort_values(["pid", "trial_order", "position"], kind="stable")
    person = pd.DataFrame.from_dict(
        people,
        orient="index",
        columns=[
            "participant",
            "prolific_pid",
            "study_id",
            "session_id",
            "form",
            "headphone_passed",
            "label_order",
            "participant_language",
        ],
    )
    person = person.drop(columns=["label_order", "participant_language"])
    r = r.join(person, on="pid")
    r["study"] = study.slug
    r["clip"] = r["trial_id"].map(dims.trial_clip)
    r["form"] = r["trial_id"].map(dims.trial_form).fillna(r["form"])
    return _typed(r, _RATING_DTYPES)


def ratings_frames(
    *, study: Study, chunk_participants: int = CHUNK_PARTICIPANTS
) -> Iterator[pd.DataFrame]:
    """The long ratings table of ``study`` in chunks of at most ``chunk_participants`` people.

    Each chunk has the columns of ``RATING_COLUMNS`` with fixed dtypes, ordered by participant,
    trial order and position; a study without ratings yields one empty chunk (the header).
    """
    dims = _dims(study)
    yielded = False
    for lo, hi in _participant_chunks(study, chunk_participants):
        chunk = _ratings_chunk(study, lo, hi, dims)
        if len(chunk):
            yielded = True
            yield chunk
    if not yielded:
        yield _empty_ratings()


def ratings_frame(*, study: Study) -> pd.DataFrame:
    """The whole long ratings table of ``study`` (see :func:`ratings_frames`)."""
    return pd.concat(list(ratings_frames(study=study)), ignore_index=True)


# --------------------------------------------------------------------------------------------
# the participants table


def participants_frame(*, study: Study) -> pd.DataFrame:
    """One row per participant of ``study`` (everyone who consented or declined).

    Columns: ``PARTICIPANT_COLUMNS``, the remaining questionnaire answers (``comment`` and any
    other key stored), then ``PARTICIPANT_EXTRA_COLUMNS``. Two queries.
    """
    people = list(
        Participant.objects.filter(study=study)
        .order_by("id")
        .annotate(n_ratings=Count("ratings"))
        .values_list(
            "id",
            "form__name",
            "status",
            "started_at",
            "completed_at",
            "headphone_passed",
            "answers",
            "prolific_pid",
            "external_study_id",
            "external_session_id",
            "stage",
            "screened_out_reason",
            "consented_at",
            "n_ratings",
            "timing_flag",
            "simulated",
        )
    )
    checks = {
        row["participant_id"]: row
        for row in QualityCheck.objects.filter(
            participant__study=study, kind=QualityCheck.Kind.ATTENTION
        )
        .values("participant_id")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(passed=False)))
        .order_by()
    }
    answer_keys = list(QUESTIONNAIRE_FIELDS)
    for p in people:
        answers: dict[str, object] = p[7] if isinstance(p[7], dict) else {}
        answer_keys += [k for k in answers if k not in answer_keys]
    rows = []
    for (
        pid,
        form,
        status,
        started,
        completed,
        headphone,
        answers,
        pid_ext,
        study_ext,
        session_ext,
        stage,
        reason,
        consented,
        n_ratings,
        timing,
        simulated,
    ) in people:
        answers = answers if isinstance(answers, dict) else {}
        c = checks.get(pid)
        rows.append(
            {
                "study": study.slug,
                "form": form,
                "participant": public_participant_id(pid),
                "status": status,
                "started_at": started,
                "completed_at": completed,
                "headphone_passed": headphone,
                **{k: (str(answers[k]) if k in answers else None) for k in answer_keys},
                "prolific_pid": pid_ext,
                "study_id": study_ext,
                "session_id": session_ext,
                "stage": stage,
                "screened_out_reason": reason,
                "consented_at": consented,
                "n_ratings": n_ratings,
                "timing_flag": timing,
                "simulated": simulated,
                "attention_checks": c["n"] if c else 0,
                "attention_failures": c["failed"] if c else 0,
                "attention_passed": (c["failed"] == 0) if c else pd.NA,
            }
        )
    columns = [
        *PARTICIPANT_COLUMNS,
        *[k for k in answer_keys if k not in PARTICIPANT_COLUMNS],
        *PARTICIPANT_EXTRA_COLUMNS,
    ]
    dtypes = {c: "object" for c in columns}
    dtypes.update(
        {
            "started_at": "datetime64[us, UTC]",
            "completed_at": "datetime64[us, UTC]",
            "consented_at": "datetime64[us, UTC]",
            "headphone_passed": "boolean",
            "attention_passed": "boolean",
            "simulated": "bool",
            "n_ratings": "int64",
            "attention_checks": "int64",
            "attention_failures": "int64",
        }
    )
    return _typed(pd.DataFrame(rows, columns=columns), dtypes)


# --------------------------------------------------------------------------------------------
# writers


def _parquet_schema(df: pd.DataFrame):
    import pyarrow as pa

    fields = []
    for col, dtype in df.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            t = pa.timestamp("us", tz="UTC")
        elif str(dtype) in ("bool", "boolean"):
            t = pa.bool_()
        elif str(dtype) in ("int64", "Int64"):
            t = pa.int64()
        elif str(dtype) == "float64":
            t = pa.float64()
        else:
            t = pa.string()
        fields.append(pa.field(str(col), t))
    return pa.schema(fields)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's CSV
    injection advice); numbers and other cells are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame, *, header: bool) -> str:
    # object, "string" and pandas 3's default "str" columns: every column that can hold text
    text_columns = [
        c
        for c, t in df.dtypes.items()
        if pd.api.types.is_object_dtype(t) or pd.api.types.is_string_dtype(t)
    ]
    if text_columns:
        df = df.copy()
        for c in text_columns:
            df[c] = df[c].map(_spreadsheet_safe, na_action="ignore")
        header_names = [_spreadsheet_safe(str(c)) for c in df.columns]
        df.columns = header_names
    return df.to_csv(index=False, header=header, date_format=_ISO, lineterminator="\n")


_csv_text = csv_text


def _json_records(df: pd.DataFrame) -> str:
    """The rows as JSON objects joined by commas (no brackets): NA as null, times in ISO 8601."""
    if df.empty:
        return ""
    text = df.to_json(orient="records", date_format="iso", date_unit="us", force_ascii=False)
    return text[1:-1]


def iter_csv(frames: Iterable[pd.DataFrame]) -> Iterator[str]:
    """CSV text chunk by chunk: the header once, then every chunk's rows."""
    first = True
    for df in frames:
        yield csv_text(df, header=first)
        first = False


def iter_json(frames: Iterable[pd.DataFrame]) -> Iterator[str]:
    """One JSON array of row objects, chunk by chunk."""
    yield "["
    sep = ""
    for df in frames:
        body = _json_records(df)
        if body:
            yield sep + body
            sep = ","
    yield "]\n"


def write_frames(frames: Iterable[pd.DataFrame], target: str | Path | BinaryIO, fmt: str) -> int:
    """Write the chunks to ``target`` (a path or a binary file) as ``fmt``; returns the row count.

    CSV: UTF-8, comma, a header, ISO 8601 UTC times, empty cells for missing values. Parquet: one
    row group per chunk with a fixed schema (timestamps in microseconds, UTC). JSON: an array of
    objects, ``null`` for missing values. A path is written to a temporary file beside it and
    renamed at the end, so a failed export leaves no half-written file.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if isinstance(target, str | Path):
        path = Path(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                n = write_frames(frames, fh, fmt)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return n
    n = 0
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for df in frames:
                if writer is None:
                    schema = _parquet_schema(df)
                    writer = pq.ParquetWriter(target, schema, compression="zstd")
                writer.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False))
                n += len(df)
        finally:
            if writer is not None:
                writer.close()
        return n
    text_iter = iter_csv if fmt == "csv" else iter_json
    counted = _RowCounter(frames)
    for piece in text_iter(counted):
        target.write(piece.encode("utf-8"))
    return counted.rows


class _RowCounter:
    """Pass frames through and count their rows."""

    def __init__(self, frames: Iterable[pd.DataFrame]):
        self.frames, self.rows = frames, 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for df in self.frames:
            self.rows += len(df)
            yield df


DELETION_COLUMNS = ("deleted_at", "what", "participant", "summary", "deleted_by", "details")


def deletions_frame(*, study: Study) -> pd.DataFrame:
    """What was removed from the study after it closed (``DataDeletion``): one row each."""
    rows = [
        {
            "deleted_at": d.deleted_at.isoformat(),
            "what": d.what,
            "participant": d.participant,
            "summary": d.summary,
            "deleted_by": d.deleted_by_name,
            "details": json.dumps(d.details, sort_keys=True),
        }
        for d in DataDeletion.objects.filter(study=study).order_by("deleted_at", "id")
    ]
    return pd.DataFrame(rows, columns=list(DELETION_COLUMNS)).astype("string")


TABLES: dict[str, Callable[..., Iterable[pd.DataFrame]]] = {
    "ratings": lambda study, free_text=False: (
        pseudonymise(df, free_text=free_text) for df in ratings_frames(study=study)
    ),
    "participants": lambda study, free_text=False: [
        pseudonymise(participants_frame(study=study), free_text=free_text)
    ],
    # Not publishable: recruiter ids, user agents and free text, for the researcher's records.
    "identifying": lambda study, free_text=True: [identifying_frame(study=study)],
    "deletions": lambda study, free_text=False: [deletions_frame(study=study)],
}


def export_table(
    *,
    study: Study,
    table: str,
    target: str | Path | BinaryIO,
    fmt: str,
    free_text: bool = False,
) -> int:
    """Write ``table`` of ``study`` as ``fmt``; returns the rows. ``ratings`` and
    ``participants`` are pseudonymised (free text only with ``free_text``); ``identifying``
    holds the recruiter ids for the researcher's own records."""
    if table not in TABLES:
        raise ExportError(f"unknown table {table!r}; use one of {', '.join(TABLES)}")
    return write_frames(TABLES[table](study, free_text=free_text), target, fmt)


def export_http_response(
    *, study: Study, table: str = "ratings", fmt: str = "csv", free_text: bool = False
) -> HttpResponseBase:
    """A download of ``table`` as ``fmt``: CSV streams chunk by chunk, Parquet and JSON are
    built in memory (JSON is for small studies and scripts; use CSV or Parquet for large ones)."""
    if table not in TABLES:
        raise ExportError(f"unknown table {table!r}; use one of {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    frames = TABLES[table](study, free_text=free_text)
    if fmt == "csv":
        resp: HttpResponseBase = StreamingHttpResponse(
            iter_csv(frames), content_type=CONTENT_TYPES[fmt]
        )
    else:
        buf = io.BytesIO()
        write_frames(frames, buf, fmt)
        resp = HttpResponse(buf.getvalue(), content_type=CONTENT_TYPES[fmt])
    name = "IDENTIFYING-participants" if table == "identifying" else table
    resp["Content-Disposition"] = f'attachment; filename="{study.slug}-{name}.{fmt}"'
    return resp


# --------------------------------------------------------------------------------------------
# the report: design, provenance, software, HTML and the CSV bundle
