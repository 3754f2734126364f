"""The participant submit, declared once: what a trial or description submit may contain, what
each event of the player's log may contain, and the bounds of every number that is stored.

The view parses the request body with :func:`parse_body` and checks its shape with
:func:`clean_submit`; the services (``survey.participation.submit_item`` and ``submit_annotation``)
check their arguments with the same :func:`clean_ratings` and :func:`clean_events`, so a caller
that is not the view (the simulation, a test, a future API) is held to the same declaration.
Anything not declared here is refused with a :class:`SchemaError` (a 400 with a clear message).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

# -- the declaration ----------------------------------------------------------------------------

SUBMIT_MAX_BYTES = 256 * 1024  # a real submit is a few kB; 2,000 events of ~120 bytes fit
MAX_EVENTS = 2000  # the player keeps at most this many (static/survey/{trial,annotation}.js)
MAX_INDEX = 10_000  # no sequence is longer
MAX_LISTEN_S = 24 * 3600.0  # a stored listening time is at most a day (r13b bounds it by elapsed)
MAX_TEXT_CHARS = 4000
MAX_TAG_CATEGORIES = 20
MAX_TAGS_PER_CATEGORY = 50
MAX_WORD_CHARS = 60

# The player's log (static/survey/player.js ``_log``): one of these kinds, these fields only.
EVENT_KINDS = frozenset(
    {"play", "pause", "seek", "ended", "switch", "error", "load", "visibility", "submit"}
)
EVENT_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # name: (JSON type, may be null)
    "type": (str, False),
    "t": ((int, float), False),  # Date.now(): milliseconds since 1970
    "video_time": ((int, float), True),  # seconds into the video
    "track": (int, True),  # blind-label index of the selected track
    "message": (str, True),  # an error's text, shortened
}
EVENT_T_MAX = 1e13  # milliseconds: the year 2286
EVENT_VIDEO_TIME_MAX = 86_400.0
EVENT_TRACK_MAX = 25
EVENT_MESSAGE_MAX = 200

SUBMIT_KEYS_RATINGS = frozenset({"index", "submission_id", "ratings", "events"})
SUBMIT_KEYS_TEXT = frozenset({"index", "submission_id", "text", "tags", "listening_s", "events"})
RATING_KEYS = frozenset({"label", "value", "moved", "listening_s"})
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SchemaError(ValueError):
    """The submit does not follow the declaration. ``code`` is the machine-readable reason."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class RatingIn:
    label: str
    value: float
    moved: bool
    listening_s: float


@dataclass(frozen=True)
class SubmitIn:
    """A checked submit: either ``ratings`` (a rating item) or ``text`` (a description)."""

    index: int
    submission_id: uuid.UUID
    events: list[dict[str, Any]]
    ratings: list[RatingIn] | None = None
    text: str | None = None
    tags: dict[str, list[str]] | None = None
    listening_s: float = 0.0


# -- parsing the body ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise SchemaError(f"{name} is not a number JSON allows", code="json")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SchemaError(f"the number {text[:20]} is too large", code="json")
    return value


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; NaN, Infinity, overflowing numbers, invalid UTF-8 and
    nesting too deep for the parser are refused with a clear message."""
    if len(body) > SUBMIT_MAX_BYTES:
        raise SchemaError(
            f"the submit is larger than {SUBMIT_MAX_BYTES // 1024} kB", code="too_large"
        )
    try:
        payload = json.loads(body or b"{}", parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError:
        raise SchemaError("the request body is nested too deeply", code="json") from None
    except SchemaError:
        raise
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        raise SchemaError("the request body must be a JSON object", code="json") from None
    if not isinstance(payload, dict):
        raise SchemaError("the request body must be a JSON object", code="json")
    return payload


# -- the parts ----------------------------------------------------------------------------------


def clean_text(value: Any, what: str, *, max_chars: int) -> str:
    """A string without NUL or other control characters (PostgreSQL refuses NUL in text and
    JSON), at most ``max_chars`` long. Newlines and tabs are allowed."""
    if not isinstance(value, str):
        raise SchemaError(f"{what} must be text")
    if len(value) > max_chars:
        raise SchemaError(f"{what} is longer than {max_chars} characters", code="too_long")
    if any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in value):
        raise SchemaError(f"{what} contains control characters", code="control_chars")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise SchemaError(f"{what} contains an unpaired surrogate", code="control_chars")
    return value


def number(value: Any, what: str, *, lo: float, hi: float, code: str = "range") -> float:
    """A finite JSON number within [lo, hi] (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{what} must be a number")
    try:
        value = float(value)
    except OverflowError:
        raise SchemaError(f"{what} is too large", code=code) from None
    if not math.isfinite(value):
        raise SchemaError(f"{what} must be a finite number")
    if not lo <= value <= hi:
        raise SchemaError(f"{what} must be between {lo:g} and {hi:g}", code=code)
    return value


def clean_index(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SchemaError("index must be an integer")
    if not 0 <= value <= MAX_INDEX:
        raise SchemaError(f"index must be between 0 and {MAX_INDEX}")
    return value


def clean_submission_id(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or len(value) > 64:
        raise SchemaError("submission_id must be a UUID")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise SchemaError("submission_id must be a UUID") from None


def clean_event(raw: Any, i: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SchemaError(f"event {i} must be an object", code="events")
    unknown = set(raw) - set(EVENT_FIELDS)
    if unknown:
        name = sorted(str(k) for k in unknown)[0][:40]
        raise SchemaError(f"event {i} has an undeclared field {name!r}", code="events")
    out: dict[str, Any] = {}
    for name, (kind, nullable) in EVENT_FIELDS.items():
        if name not in raw:
            if name in ("type", "t"):
                raise SchemaError(f"event {i} needs {name!r}", code="events")
            continue
        value = raw[name]
        if value is None and nullable:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            raise SchemaError(f"event {i}: {name!r} has the wrong type", code="events")
        out[name] = value
    if out["type"] not in EVENT_KINDS:
        raise SchemaError(f"event {i}: unknown kind {out['type'][:40]!r}", code="events")
    out["t"] = number(out["t"], f"event {i}: 't'", lo=0, hi=EVENT_T_MAX, code="events")
    if out.get("video_time") is not None:
        out["video_time"] = number(
            out["video_time"],
            f"event {i}: 'video_time'",
            lo=0,
            hi=EVENT_VIDEO_TIME_MAX,
            code="events",
        )
    if out.get("track") is not None and not 0 <= out["track"] <= EVENT_TRACK_MAX:
        raise SchemaError(f"event {i}: 'track' must be between 0 and {EVENT_TRACK_MAX}", "events")
    if out.get("message") is not None:
        out["message"] = clean_text(
            out["message"][:EVENT_MESSAGE_MAX], f"event {i}: 'message'", max_chars=EVENT_MESSAGE_MAX
        )
    return out


def clean_events(raw: Any) -> list[dict[str, Any]]:
    """The player's log: a list of at most ``MAX_EVENTS`` declared events (missing = none)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SchemaError("events must be a list", code="events")
    if len(raw) > MAX_EVENTS:
        raise SchemaError(f"at most {MAX_EVENTS} events per item", code="events")
    return [clean_event(e, i) for i, e in enumerate(raw)]


def clean_rating(raw: Any) -> RatingIn:
    if isinstance(raw, RatingIn):
        return raw
    if not isinstance(raw, dict) or not isinstance(raw.get("label"), str):
        raise SchemaError("each rating needs a label")
    label = raw["label"]
    if len(label) != 1 or label not in LABELS:
        raise SchemaError(f"unknown track label {label[:8]!r}", code="labels")
    unknown = set(raw) - RATING_KEYS
    if unknown:
        raise SchemaError(
            f"the rating of track {label} has an undeclared field "
            f"{sorted(map(str, unknown))[0][:40]!r}"
        )
    value = number(raw.get("value"), f"the rating of track {label}", lo=0, hi=100)
    moved = raw.get("moved", False)
    if not isinstance(moved, bool):
        raise SchemaError(f"'moved' of track {label} must be true or false")
    heard = number(
        raw.get("listening_s", 0),
        f"the listening time of track {label}",
        lo=0,
        hi=MAX_LISTEN_S,
        code="invalid",
    )
    return RatingIn(label=label, value=value, moved=moved, listening_s=heard)


def clean_ratings(raw: Any) -> list[RatingIn]:
    if not isinstance(raw, list):
        raise SchemaError("ratings must be a list")
    if len(raw) > len(LABELS):
        raise SchemaError(f"at most {len(LABELS)} ratings per item")
    out = [clean_rating(r) for r in raw]
    seen: set[str] = set()
    for r in out:
        if r.label in seen:
            raise SchemaError(f"track {r.label} was rated twice")
        seen.add(r.label)
    return out


def clean_tags(raw: Any) -> dict[str, list[str]]:
    """The shape of the tags (the study's vocabulary is checked by the service)."""
    if raw in (None, {}, []):
        return {}
    if not isinstance(raw, dict):
        raise SchemaError("tags must be an object of category: [tags]")
    if len(raw) > MAX_TAG_CATEGORIES:
        raise SchemaError(f"at most {MAX_TAG_CATEGORIES} tag categories")
    out: dict[str, list[str]] = {}
    for category, tags in raw.items():
        clean_text(category, "a tag category", max_chars=MAX_WORD_CHARS)
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise SchemaError(f"the tags of {category[:40]!r} must be a list of words")
        if len(tags) > MAX_TAGS_PER_CATEGORY:
            raise SchemaError(f"at most {MAX_TAGS_PER_CATEGORY} tags in {category[:40]!r}")
        out[category] = [clean_text(t, "a tag", max_chars=MAX_WORD_CHARS) for t in tags]
    return out


def clean_listening(raw: Any) -> float:
    return number(raw, "the listening time", lo=0, hi=MAX_LISTEN_S, code="invalid")


def clean_submit(payload: dict[str, Any]) -> SubmitIn:
    """The whole submit: a rating submit (``ratings``) or a description (``text``)."""
    is_text = "text" in payload
    allowed = SUBMIT_KEYS_TEXT if is_text else SUBMIT_KEYS_RATINGS
    unknown = set(payload) - allowed
    if unknown:
        raise SchemaError(f"undeclared field {sorted(map(str, unknown))[0][:40]!r} in the submit")
    index = clean_index(payload.get("index"))
    sub_id = clean_submission_id(payload.get("submission_id", ""))
    events = clean_events(payload.get("events"))
    if is_text:
        return SubmitIn(
            index=index,
            submission_id=sub_id,
            events=events,
            text=clean_text(payload["text"], "the description", max_chars=MAX_TEXT_CHARS * 2),
            tags=clean_tags(payload.get("tags")),
            listening_s=clean_listening(payload.get("listening_s", 0)),
        )
    return SubmitIn(
        index=index,
        submission_id=sub_id,
        events=events,
        ratings=clean_ratings(payload.get("ratings")),
    )
