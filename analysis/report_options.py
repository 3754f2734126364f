"""The screening thresholds of a report, as options: one declaration used by
``analysis_report`` (``--max-attention-failures 1``), the admin's report pages and the API
(``?max_attention_failures=1``).

Each threshold takes a number, or ``off`` to switch its rule off; the defaults are those of
``analysis.screening.ScreeningSettings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from analysis.screening import ScreeningSettings


@dataclass(frozen=True)
class Option:
    name: str  # ScreeningSettings field (and query parameter)
    kind: type  # int, float, bool or str
    help: str
    can_be_off: bool = False
    choices: tuple[str, ...] = ()

    @property
    def accepts(self) -> str:
        if self.kind is bool:
            return "yes or no"
        if self.choices:
            return " or ".join(self.choices)
        what = "a whole number" if self.kind is int else "a number"
        return what + (" or off" if self.can_be_off else "")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("require_completed", bool, "keep only participants who completed the study (yes/no)"),
    Option(
        "max_attention_failures",
        int,
        "exclude a participant with more failed attention checks than this",
        can_be_off=True,
    ),
    Option("headphone", bool, "exclude participants who failed the headphone check (yes/no)"),
    Option(
        "flat_sd_below",
        float,
        "exclude a participant whose ratings' standard deviation is below this (flat raters)",
        can_be_off=True,
    ),
    Option(
        "min_trial_duration_s",
        float,
        "a trial shorter than this many seconds counts as fast",
        can_be_off=True,
    ),
    Option(
        "max_fast_fraction",
        float,
        "exclude a participant with a larger share (0-1) of fast trials",
        can_be_off=True,
    ),
    Option(
        "outlier_z",
        float,
        "drop ratings further than this many SD from their group's mean",
        can_be_off=True,
    ),
    Option(
        "outlier_scope",
        str,
        "the outlier rule's group: condition or stimulus (clip x condition)",
        choices=("condition", "stimulus"),
    ),
)

_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false"}


class OptionError(ValueError):
    """A threshold that cannot be used; the message names it and says what it takes."""


def defaults() -> dict[str, object]:
    base = ScreeningSettings()
    return {o.name: getattr(base, o.name) for o in OPTIONS}


def parse(option: Option, raw: str) -> object:
    text = str(raw).strip().lower()
    if option.kind is bool:
        if text in _TRUE:
            return True
        if text in _FALSE | {"off"}:
            return False
        raise OptionError(f"{option.name} takes yes or no, not {raw!r}")
    if option.can_be_off and text in ("off", "none", ""):
        return None
    if option.choices:
        if text not in option.choices:
            raise OptionError(f"{option.name} takes {' or '.join(option.choices)}, not {raw!r}")
        return text
    try:
        value = option.kind(text)
    except ValueError:
        what = "a whole number" if option.kind is int else "a number"
        off = " or off" if option.can_be_off else ""
        raise OptionError(f"{option.name} takes {what}{off}, not {raw!r}") from None
    if value < 0 or (option.kind is float and value != value):
        raise OptionError(f"{option.name} cannot be negative or NaN, got {raw!r}")
    return value


def screening_from(given: Mapping[str, object]) -> ScreeningSettings:
    """``ScreeningSettings`` from the options present in ``given`` (strings or parsed values);
    the others keep their defaults. Unknown keys are ignored (a query string has others)."""
    values: dict[str, Any] = {}  # each parsed to its option's kind (ScreeningSettings checks)
    for o in OPTIONS:
        if o.name not in given:
            continue
        raw = given[o.name]
        values[o.name] = raw if not isinstance(raw, str) else parse(o, raw)
    try:
        return ScreeningSettings(**values)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc)) from None


def add_arguments(parser) -> None:
    """The options of ``analysis_report``: ``--max-attention-failures 1``, ``--outlier-z off``."""
    base = defaults()
    for o in OPTIONS:
        default = base[o.name]
        shown = (
            "off"
            if default is None
            else ("yes" if default is True else "no" if default is False else default)
        )
        parser.add_argument(
            o.flag,
            dest=o.name,
            metavar="|".join(o.choices)
            if o.choices
            else ("yes|no" if o.kind is bool else ("N|off" if o.can_be_off else "N")),
            default=None,
            help=f"{o.help} (default {shown})",
        )


def query_string(settings: ScreeningSettings) -> str:
    """The query that asks a report view for ``settings`` (only what differs from the defaults)."""
    from urllib.parse import urlencode

    base = defaults()
    pairs = []
    for o in OPTIONS:
        value = getattr(settings, o.name)
        if value == base[o.name]:
            continue
        text = (
            "off"
            if value is None
            else ("yes" if value is True else "no" if value is False else value)
        )
        pairs.append((o.name, text))
    return urlencode(pairs)


assert {o.name for o in OPTIONS} <= {f.name for f in fields(ScreeningSettings)}
