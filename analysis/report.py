"""The analysis report: every table, with and without exclusions, and one offline HTML page.

One file because analyze() and build_report() share the settings and the FormAnalysis shape; the
figures and the HTML sections are small functions over it.

:func:`analyze` runs screening and all statistics per form and returns an :class:`Analysis`
(tables only, no HTML); :func:`build_report` renders one self-contained HTML page (plotly.js
embedded once, no network needed); :func:`write_csv_bundle` writes the tables as CSV files in
a zip for R and pandas users. Figures are functions returning a plotly ``Figure``.
"""

from __future__ import annotations

import html
import io
import json
import logging
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from analysis.agreement import stimulus_agreement
from analysis.screening import ScreeningResult, ScreeningSettings, screen
from analysis.stats import (
    AnalysisError,
    MixedModelResult,
    analysis_rows,
    describe_conditions,
    friedman,
    mixed_model,
    pairwise_wilcoxon,
    paper_tables,
)
from analysis.versions import software_versions

logger = logging.getLogger(__name__)

__all__ = [
    "Analysis",
    "AnalysisSettings",
    "FormAnalysis",
    "analyze",
    "build_report",
    "fig_clip_heatmap",
    "fig_distributions",
    "fig_means",
    "fig_participant_lines",
    "REPORT_PACKAGES",
    "write_csv_bundle",
]


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that changes the numbers of a report; printed in the report itself."""

    screening: ScreeningSettings = ScreeningSettings()
    confidence: float = 0.95
    n_boot: int = 10_000
    seed: int = 0
    padjust: Literal["holm", "fdr_bh", "bonferroni", "none"] = "holm"
    friedman_method: Literal["chisq", "f"] = "chisq"
    mixed_engine: Literal["auto", "profiled", "statsmodels"] = "profiled"
    reml: bool = True
    max_participant_lines: int = 300

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["screening"] = self.screening.as_dict()
        return d


@dataclass
class FormAnalysis:
    """All statistics of one form on one version of the data (screened or not).

    A statistic that could not be computed is ``None`` and its reason is in ``messages``.
    """

    form: str
    n_participants: int
    n_ratings: int
    describe: pd.DataFrame
    friedman: pd.DataFrame | None
    pairwise: pd.DataFrame | None
    mixed: MixedModelResult | None
    agreement: pd.DataFrame | None
    messages: dict[str, str] = field(default_factory=dict)
    friedman_by_clip: pd.DataFrame | None = None
    pairwise_by_clip: pd.DataFrame | None = None


@dataclass
class Analysis:
    """The result of :func:`analyze`: screening plus per-form statistics with and without it."""

    screening: ScreeningResult
    screened: dict[str, FormAnalysis]
    unscreened: dict[str, FormAnalysis]
    paper: dict[str, pd.DataFrame]
    paper_unscreened: dict[str, pd.DataFrame]
    settings: AnalysisSettings
    data: pd.DataFrame  # screened analysis rows, used by the figures
    conditions: dict[str, list[str]]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table as a flat DataFrame, keyed by a file-friendly name."""
        out: dict[str, pd.DataFrame] = {
            "exclusion_log": self.screening.log,
            "exclusion_summary": self.screening.summary(),
            "kept_ratings": self.screening.ratings,
        }
        for label, paper in (("screened", self.paper), ("unscreened", self.paper_unscreened)):
            rows = [t.assign(form=f).reset_index(names="statistic") for f, t in paper.items()]
            if rows:
                out[f"paper_tables_{label}"] = pd.concat(rows, ignore_index=True)
        for label, forms in (("screened", self.screened), ("unscreened", self.unscreened)):
            parts: dict[str, list[pd.DataFrame]] = {}
            for fa in forms.values():
                pieces = {
                    "describe": fa.describe,
                    "friedman": fa.friedman,
                    "pairwise_wilcoxon": fa.pairwise,
                    "friedman_by_clip": fa.friedman_by_clip,
                    "pairwise_wilcoxon_by_clip": fa.pairwise_by_clip,
                    "agreement": fa.agreement,
                }
                if fa.mixed is not None:
                    pieces.update(
                        {
                            "mixed_fixed": fa.mixed.fixed,
                            "mixed_variance": fa.mixed.variance,
                            "mixed_means": fa.mixed.means,
                            "mixed_contrasts": fa.mixed.contrasts,
                            "mixed_fit": fa.mixed.summary_table(),
                        }
                    )
                for name, table in pieces.items():
                    if table is not None:
                        parts.setdefault(name, []).append(
                            table.assign(form=fa.form) if "form" not in table.columns else table
                        )
            for name, tabs in parts.items():
                out[f"{name}_{label}"] = pd.concat(tabs, ignore_index=True)
        return out


T = TypeVar("T")


def _run(messages: dict[str, str], key: str, fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except AnalysisError as exc:
        messages[key] = str(exc)
        logger.info("%s: %s", key, exc)
        return None


def _analyze_form(
    form: str,
    data: pd.DataFrame,
    conditions: list[str],
    settings: AnalysisSettings,
    *,
    unscreened: pd.DataFrame | None = None,
) -> FormAnalysis:
    """``unscreened``: the form's rows before screening, when ``data`` is what screening kept."""
    messages: dict[str, str] = {}
    describe = describe_conditions(
        data,
        conditions=conditions,
        confidence=settings.confidence,
        n_boot=settings.n_boot,
        seed=settings.seed,
    )
    if data.empty:
        if unscreened is not None and len(unscreened):
            messages["all"] = (
                f"screening excluded all {len(unscreened):,} ratings of this form (from"
                f" {unscreened['participant'].nunique():,} participants; the exclusion log"
                " says why)"
            )
        else:
            messages["all"] = "no ratings in this form"
        return FormAnalysis(form, 0, 0, describe, None, None, None, None, messages)
    missing = [c for c in conditions if c not in set(data["condition"])]
    if missing:
        messages["conditions"] = f"no ratings of {', '.join(map(str, missing))}"
    fr = _run(messages, "friedman", lambda: friedman(data, method=settings.friedman_method))
    pw = _run(
        messages,
        "pairwise",
        lambda: pairwise_wilcoxon(
            data, padjust=settings.padjust, order=[c for c in conditions if c not in missing]
        ),
    )
    if pw is not None and pw.empty:
        messages["pairwise"] = "fewer than 2 conditions with ratings: no pairs to compare"
        pw = None
    fr_clip = _run(
        messages,
        "friedman_by_clip",
        lambda: friedman(data, subject="clip", method=settings.friedman_method),
    )
    pw_clip = _run(
        messages,
        "pairwise_by_clip",
        lambda: pairwise_wilcoxon(
            data,
            subject="clip",
            padjust=settings.padjust,
            order=[c for c in conditions if c not in missing],
        ),
    )
    if pw_clip is not None and pw_clip.empty:
        pw_clip = None
    mm = _run(
        messages,
        "mixed",
        lambda: mixed_model(
            data,
            engine=settings.mixed_engine,
            reml=settings.reml,
            confidence=settings.confidence,
            padjust=settings.padjust,
        ),
    )
    ag = _run(
        messages, "agreement", lambda: stimulus_agreement(data, confidence=settings.confidence)
    )
    return FormAnalysis(
        form,
        int(data["participant"].nunique()),
        len(data),
        describe,
        fr,
        pw,
        mm,
        ag,
        messages,
        friedman_by_clip=fr_clip,
        pairwise_by_clip=pw_clip,
    )


def analyze(
    ratings: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    *,
    settings: AnalysisSettings = AnalysisSettings(),
    conditions: Mapping[str, Sequence[str]] | None = None,
) -> Analysis:
    """Screen the ratings and compute every statistic per form, with and without exclusions.

    ``conditions`` maps form -> the conditions its design has, so that a condition without
    ratings still shows up (with a message); by default the conditions seen in the data.
    """
    required = ["form", "participant", "clip", "condition", "value"]
    missing = [c for c in required if c not in ratings.columns]
    if missing:
        raise AnalysisError(f"the ratings table lacks the column(s) {missing}")
    raw = analysis_rows(ratings)
    result = screen(ratings, participants, settings=settings.screening)
    kept = result.ratings
    forms = sorted(set(map(str, ratings["form"].dropna())) | set(conditions or {}))
    conds: dict[str, list[str]] = {}
    for f in forms:
        seen = sorted(map(str, raw.loc[raw["form"] == f, "condition"].unique()))
        listed = list((conditions or {}).get(f, []))
        conds[f] = listed + [c for c in seen if c not in listed]
    screened = {
        f: _analyze_form(
            f,
            kept.loc[kept["form"] == f],
            conds[f],
            settings,
            unscreened=raw.loc[raw["form"] == f],
        )
        for f in forms
    }
    unscreened = {f: _analyze_form(f, raw.loc[raw["form"] == f], conds[f], settings) for f in forms}
    return Analysis(
        screening=result,
        screened=screened,
        unscreened=unscreened,
        paper=paper_tables(kept) if len(kept) else {},
        paper_unscreened=paper_tables(raw) if len(raw) else {},
        settings=settings,
        data=kept,
        conditions=conds,
    )


# --------------------------------------------------------------------------------------------
# figures


def fig_means(
    describe: pd.DataFrame, *, title: str = "", mixed: pd.DataFrame | None = None
) -> go.Figure:
    """Mean rating per condition with the t interval on participant means (and the mixed
    model's estimated means beside it, when given)."""
    d = describe.loc[describe["n"] > 0]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=d["condition"],
            y=d["pmean"],
            mode="markers",
            name="mean of participant means",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": d["t_high"] - d["pmean"],
                "arrayminus": d["pmean"] - d["t_low"],
            },
            marker={"size": 11},
        )
    )
    if mixed is not None:
        fig.add_trace(
            go.Scatter(
                x=mixed["condition"],
                y=mixed["estimate"],
                mode="markers",
                name="mixed model",
                marker={"size": 9, "symbol": "diamond"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": mixed["ci_high"] - mixed["estimate"],
                    "arrayminus": mixed["estimate"] - mixed["ci_low"],
                },
            )
        )
    fig.update_layout(
        title=title,
        yaxis_title="rating (0-100)",
        template="plotly_white",
        height=380,
        margin={"t": 50, "b": 40},
    )
    return fig


def fig_distributions(data: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Box plot per condition from precomputed quartiles (size independent of the data)."""
    fig = go.Figure()
    for cond, part in data.groupby("condition", sort=True):
        v = part["value"].to_numpy(float)
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        iqr = q3 - q1
        lo = v[v >= q1 - 1.5 * iqr].min()
        hi = v[v <= q3 + 1.5 * iqr].max()
        fig.add_trace(
            go.Box(
                name=str(cond),
                q1=[q1],
                median=[med],
                q3=[q3],
                lowerfence=[lo],
                upperfence=[hi],
                mean=[v.mean()],
                x=[str(cond)],
                boxpoints=False,
            )
        )
    fig.update_layout(
        title=title,
        yaxis_title="rating (0-100)",
        template="plotly_white",
        height=380,
        showlegend=False,
        margin={"t": 50, "b": 40},
    )
    return fig


def fig_clip_heatmap(data: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Mean rating per clip (rows) and condition (columns)."""
    table = data.pivot_table(index="clip", columns="condition", values="value", aggfunc="mean")
    z = table.to_numpy(float)
    text = [["" if np.isnan(x) else f"{x:.1f}" for x in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in table.columns],
            y=[str(c) for c in table.index],
            colorscale="Viridis",
            zmin=0,
            zmax=100,
            text=text,
            texttemplate="%{text}",
            colorbar={"title": "mean"},
        )
    )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=max(300, 22 * len(table) + 120),
        margin={"t": 50, "b": 40},
    )
    return fig


def fig_participant_lines(
    data: pd.DataFrame, *, title: str = "", max_lines: int = 300, seed: int = 0
) -> tuple[go.Figure, str]:
    """Each participant's condition means joined by a line (a seeded sample of at most
    ``max_lines`` participants); returns the figure and a caption saying how many are shown."""
    wide = data.pivot_table(
        index="participant", columns="condition", values="value", aggfunc="mean"
    )
    n = len(wide)
    if n > max_lines:
        rng = np.random.default_rng(seed)
        wide = wide.iloc[np.sort(rng.choice(n, size=max_lines, replace=False))]
    xs: list[object] = []
    ys: list[object] = []
    cols = [str(c) for c in wide.columns]
    for row in wide.to_numpy(float):
        xs += cols + [None]
        ys += [None if np.isnan(v) else float(v) for v in row] + [None]
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            line={"width": 1},
            marker={"size": 4},
            opacity=0.35,
            hoverinfo="y",
        )
    )
    fig.update_layout(
        title=title,
        yaxis_title="participant mean (0-100)",
        template="plotly_white",
        height=380,
        showlegend=False,
        margin={"t": 50, "b": 40},
    )
    caption = f"{len(wide)} of {n} participants shown" + (
        " (a seeded random sample)" if n > len(wide) else ""
    )
    return fig, caption


# --------------------------------------------------------------------------------------------
# HTML


#: The packages the report's numbers depend on (recorded on the page with Python's version).
REPORT_PACKAGES = ("musiscene-studio", "numpy", "pandas", "scipy", "statsmodels", "plotly")


def _fmt_number(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if np.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x != 0 and abs(x) < 0.001:
            return f"{x:.2e}"
        return f"{x:.3f}" if abs(x) < 10 else f"{x:.2f}"
    return str(v)


def _table(df: pd.DataFrame | None, *, max_rows: int | None = None, caption: str = "") -> str:
    if df is None:
        return ""
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = "".join(f"<td>{html.escape(_fmt_number(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    note = ""
    if len(shown) < len(df):
        note = (
            f"<p class='note'>First {len(shown):,} of {len(df):,} rows; all rows are in the CSV "
            "bundle.</p>"
        )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f"<div class='tw'><table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f"</tbody></table></div>{note}"
    )


def _fig(fig: go.Figure) -> str:
    html: str = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
    )
    return html


def _msg(text: str) -> str:
    return f"<p class='msg'>{html.escape(text)}</p>"


def _kv(d: Mapping[str, object]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_plain(v))}</td></tr>"
        for k, v in d.items()
    )
    return f"<div class='tw'><table class='kv'>{rows}</table></div>"


def _plain(v: object) -> str:
    if is_dataclass(v) and not isinstance(v, type):
        v = asdict(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=str, ensure_ascii=False)
    return _fmt_number(v)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1rem 1.5rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{margin-top:1.4rem}table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left;white-space:normal}.tw{overflow-x:auto}
.msg{background:#fff6e0;border-left:4px solid #e0a800;padding:.4rem .7rem}
.note{color:#555;font-size:.85rem}nav a{margin-right:.8rem}caption{text-align:left;font-weight:600}
"""


def _form_section(fa: FormAnalysis, data: pd.DataFrame, settings: AnalysisSettings) -> str:
    parts = [
        f"<h3>Form {html.escape(fa.form)}: {fa.n_participants:,} participants, "
        f"{fa.n_ratings:,} ratings</h3>"
    ]
    for key, text in fa.messages.items():
        parts.append(_msg(f"{key}: {text}"))
    parts.append(_table(fa.describe, caption="Per-condition descriptives"))
    parts.append(
        "<p class='note'>The t and bootstrap intervals resample participants only: they hold "
        "for these clips. For music in general (new clips too) read the mixed model's "
        "condition means, whose intervals include the clip and clip-by-condition variation.</p>"
    )
    if not data.empty:
        parts.append(
            _fig(
                fig_means(
                    fa.describe,
                    title=f"{fa.form}: mean and {settings.confidence:.0%} interval",
                    mixed=fa.mixed.means if fa.mixed else None,
                )
            )
        )
        parts.append(_fig(fig_distributions(data, title=f"{fa.form}: distribution per condition")))
        parts.append(_fig(fig_clip_heatmap(data, title=f"{fa.form}: mean per clip and condition")))
        fig, cap = fig_participant_lines(
            data,
            title=f"{fa.form}: per-participant means",
            max_lines=settings.max_participant_lines,
            seed=settings.seed,
        )
        parts.append(_fig(fig) + f"<p class='note'>{html.escape(cap)}</p>")
    return "\n".join(parts)


def _tests_section(fa: FormAnalysis) -> str:
    parts = [f"<h3>Form {html.escape(fa.form)}</h3>"]
    if fa.friedman is not None:
        parts.append(
            _table(
                fa.friedman,
                caption="Friedman test on participant condition means (W = Kendall's W)",
            )
        )
    elif "friedman" in fa.messages:
        parts.append(_msg(f"Friedman: {fa.messages['friedman']}"))
    if fa.pairwise is not None:
        parts.append(
            _table(fa.pairwise, caption="Pairwise Wilcoxon signed-rank tests over participants")
        )
    elif "pairwise" in fa.messages:
        parts.append(_msg(f"Pairwise tests: {fa.messages['pairwise']}"))
    parts.append(
        "<p class='note'>The tests over participants treat the clips as fixed: they say "
        "whether these participants rated the conditions differently on these clips. With "
        "clip-by-condition variation they reject a true null far more often than 5 % when "
        "read as a claim about music in general (benchmarks/coverage.py). The same tests "
        "over clip means (below) treat the participants as fixed; the mixed model "
        "generalises over both.</p>"
    )
    if fa.friedman_by_clip is not None:
        parts.append(_table(fa.friedman_by_clip, caption="Friedman test on clip condition means"))
    if fa.pairwise_by_clip is not None:
        parts.append(
            _table(fa.pairwise_by_clip, caption="Pairwise Wilcoxon signed-rank tests over clips")
        )
    return "\n".join(parts)


def _mixed_section(fa: FormAnalysis) -> str:
    parts = [f"<h3>Form {html.escape(fa.form)}</h3>"]
    m = fa.mixed
    if m is None:
        parts.append(_msg(f"Mixed model: {fa.messages.get('mixed', 'not fitted')}"))
        return "\n".join(parts)
    for text in m.messages:
        parts.append(_msg(text))
    if m.fallback:
        parts.append(
            _msg(f"Requested {m.requested}; it could not be fitted, so this is {m.formula}")
        )
    parts.append(_table(m.summary_table(), caption=f"Fitted model: {m.formula}"))
    parts.append(_table(m.means, caption="Estimated condition means"))
    parts.append(_table(m.contrasts, caption="Contrasts between conditions (A − B)"))
    parts.append(_table(m.fixed, caption=f"Fixed effects (reference: {m.reference})"))
    parts.append(_table(m.variance, caption="Variance components"))
    return "\n".join(parts)


def simulated_with_ratings(ratings: pd.DataFrame, participants: pd.DataFrame | None) -> int:
    """How many participants who gave a rating are marked ``simulated`` in ``participants``."""
    if participants is None or "simulated" not in participants.columns or not len(ratings):
        return 0
    rated = set(analysis_rows(ratings)["participant"])
    marked = participants.loc[participants["simulated"].astype(bool), "participant"]
    return int(marked.isin(rated).sum())


def build_report(
    ratings: pd.DataFrame,
    participants: pd.DataFrame | None,
    *,
    design: Mapping[str, object],
    provenance: Sequence[Mapping[str, object]],
    settings: AnalysisSettings = AnalysisSettings(),
    metrics: pd.DataFrame | None = None,
    title: str | None = None,
    analysis: Analysis | None = None,
) -> str:
    """One self-contained HTML page (plotly.js embedded once; works offline).

    Sections: summary, the paper's tables, per-condition means and intervals with the
    distribution, clip x condition heatmap and per-participant lines, the Friedman and
    pairwise tests, the mixed model, rater agreement, the same statistics without exclusions,
    the exclusion log, objective metrics (when given), the study design, the provenance of
    every condition's tracks, the analysis settings and the software versions.

    ``design`` is free-form (shown as given; ``design["conditions"]``, a mapping form ->
    conditions, makes conditions without ratings visible). ``provenance`` is one mapping per
    condition (e.g. ``condition, generator, model, parameters``). Pass ``analysis`` to reuse
    an :func:`analyze` result.
    """
    if ratings is None or len(ratings) == 0:
        ratings = pd.DataFrame(
            columns=["form", "participant", "clip", "condition", "value", "is_attention"]
        )
    design_conditions = design.get("conditions") if isinstance(design, Mapping) else None
    if analysis is None:
        analysis = analyze(
            ratings,
            participants,
            settings=settings,
            conditions=design_conditions if isinstance(design_conditions, Mapping) else None,
        )
    a = analysis
    study = str(
        design.get("study")
        or design.get("title")
        or (ratings["study"].iloc[0] if "study" in ratings.columns and len(ratings) else "study")
    )
    heading = title or f"Listening-study report: {study}"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: list[tuple[str, str, str]] = []

    n_raw = int(analysis_rows(ratings)["participant"].nunique()) if len(ratings) else 0
    summary = pd.DataFrame(
        [
            {
                "form": f,
                "participants": a.unscreened[f].n_participants,
                "ratings": a.unscreened[f].n_ratings,
                "participants_kept": a.screened[f].n_participants,
                "ratings_kept": a.screened[f].n_ratings,
            }
            for f in a.screened
        ]
    )
    body = [
        f"<p>{n_raw:,} participants with ratings; "
        f"{len(a.screening.excluded_participants):,} excluded by post-screening.</p>"
    ]
    n_simulated = simulated_with_ratings(ratings, participants)
    if n_simulated:
        body.append(
            _msg(
                f"{n_simulated:,} of the {n_raw:,} participants with ratings are simulated (made "
                "by the participant simulator from a known model, not people): the participants "
                "table marks them in its 'simulated' column."
            )
        )
    if not a.screened:
        body.append(_msg("This study has no ratings yet: there is nothing to analyse."))
    else:
        body.append(_table(summary, caption="Participants and ratings per form"))
    sections.append(("summary", "Summary", "\n".join(body)))

    paper = [
        _table(t.reset_index(names="form " + f), caption=f"Mean rating per condition, {f}")
        for f, t in a.paper.items()
    ] or [_msg("No ratings.")]
    sections.append(("paper", "The paper's tables (after screening)", "\n".join(paper)))

    means = [
        _form_section(fa, a.data.loc[a.data["form"] == fa.form], a.settings)
        for fa in a.screened.values()
    ] or [_msg("No ratings.")]
    sections.append(
        ("means", "Per-condition means, distributions, clips and participants", "\n".join(means))
    )
    sections.append(
        (
            "tests",
            "Friedman and pairwise Wilcoxon tests",
            "\n".join(_tests_section(fa) for fa in a.screened.values()) or _msg("No ratings."),
        )
    )
    sections.append(
        (
            "mixed",
            "Linear mixed model",
            "\n".join(_mixed_section(fa) for fa in a.screened.values()) or _msg("No ratings."),
        )
    )
    agreement = []
    for fa in a.screened.values():
        agreement.append(f"<h3>Form {html.escape(fa.form)}</h3>")
        agreement.append(
            _table(fa.agreement, caption="Agreement between participants over stimuli")
            if fa.agreement is not None
            else _msg(fa.messages.get("agreement", "—"))
        )
    sections.append(
        ("agreement", "Agreement between raters", "\n".join(agreement) or _msg("No ratings."))
    )

    raw = []
    for f, fa in a.unscreened.items():
        raw.append(
            f"<h3>Form {html.escape(f)} without exclusions: {fa.n_participants:,} participants</h3>"
        )
        raw.append(_table(fa.describe, caption="Per-condition descriptives"))
        raw.append(_tests_section(fa).split("</h3>", 1)[1])
        if fa.mixed is not None:
            raw.append(_table(fa.mixed.means, caption="Mixed model: estimated condition means"))
            raw.append(_table(fa.mixed.contrasts, caption="Mixed model: contrasts"))
    for f, t in a.paper_unscreened.items():
        raw.append(
            _table(t.reset_index(names="form " + f), caption=f"Paper table {f}, all ratings")
        )
    sections.append(("unscreened", "Without exclusions", "\n".join(raw) or _msg("No ratings.")))

    excl = [_table(a.screening.summary(), caption="Exclusions per form and rule")]
    if a.screening.log.empty:
        excl.append(_msg("No participant or rating was excluded."))
    else:
        excl.append(_table(a.screening.log, max_rows=500, caption="Exclusion log"))
    sections.append(("exclusions", "Exclusion log", "\n".join(excl)))

    if metrics is not None:
        sections.append(
            (
                "metrics",
                "Objective metrics",
                _table(metrics, max_rows=500) if len(metrics) else _msg("No metric results."),
            )
        )
    sections.append(("design", "Study design", _kv(dict(design)) if design else _msg("Not given.")))
    prov = (
        pd.DataFrame([{k: _plain(v) for k, v in p.items()} for p in provenance])
        if provenance
        else None
    )
    sections.append(
        (
            "provenance",
            "Provenance of each condition's tracks",
            _table(prov) if prov is not None else _msg("Not given."),
        )
    )
    sections.append(("settings", "Analysis settings", _kv(a.settings.as_dict())))
    sections.append(
        (
            "software",
            "Software",
            _kv({**software_versions(REPORT_PACKAGES), "generated": generated}),
        )
    )

    nav = "".join(f"<a href='#{sid}'>{html.escape(name)}</a>" for sid, name, _ in sections)
    content = "\n".join(
        f"<section id='{sid}'><h2>{html.escape(name)}</h2>\n{text}</section>"
        for sid, name, text in sections
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(heading)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(heading)}</h1><p class='note'>Generated {generated}.</p>"
        f"<nav>{nav}</nav>\n{content}\n</body></html>"
    )


def write_csv_bundle(
    source: Analysis | Mapping[str, pd.DataFrame],
    target: str | Path | BinaryIO,
    *,
    readme: str | None = None,
) -> list[str]:
    """Write every table as ``<name>.csv`` (UTF-8, comma, ISO timestamps) into a zip file.

    ``source`` is an :class:`Analysis` (all its :meth:`Analysis.tables`) or a mapping of
    name -> DataFrame; ``target`` a path or a writable binary file. Returns the member names.
    """
    tables = source.tables() if isinstance(source, Analysis) else dict(source)
    names = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, df in tables.items():
            buf = io.StringIO()
            df.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            member = f"{name}.csv"
            zf.writestr(member, buf.getvalue())
            names.append(member)
        if isinstance(source, Analysis):
            zf.writestr(
                "settings.json", json.dumps(source.settings.as_dict(), indent=2, default=str)
            )
            names.append("settings.json")
        zf.writestr(
            "README.txt",
            readme
            or (
                "Tables of a MusiScene Studio analysis, one CSV per table. Suffix _screened: after "
                "post-screening; _unscreened: all ratings. Read with pandas.read_csv or R's "
                "read.csv.\n"
            ),
        )
        names.append("README.txt")
    return names
