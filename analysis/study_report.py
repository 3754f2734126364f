"""A study's analysis report: the exported tables analysed by the core (``analysis.report``),
with the study's design, the provenance of every condition's tracks, the software versions and
the stored objective metrics; as an offline HTML page or its tables as CSV files in a zip."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import django
import pandas as pd
from django.db import connection
from django.db.models import Count
from django.http import HttpResponse

from analysis.exports import (
    ExportError,
    csv_text,
    deletions_frame,
    participants_frame,
    ratings_frame,
)
from analysis.metrics_table import metrics_table
from analysis.report import (
    Analysis,
    AnalysisSettings,
    analyze,
    build_report,
    simulated_with_ratings,
    write_csv_bundle,
)
from analysis.versions import software_versions
from generation.models import Condition
from survey.models import DataDeletion, Form, Participant, Study, TrialTrack, Withdrawal

logger = logging.getLogger(__name__)


def study_design(*, study: Study) -> dict[str, Any]:
    """What the report prints as the study's design: settings, forms (conditions, number of
    videos, sampling seeds), participants per status, and the server's software."""
    forms = (
        Form.objects.filter(study=study)
        .order_by("name")
        .prefetch_related("conditions")
        .annotate(n_trials=Count("trials", distinct=True))
    )
    status = dict(
        Participant.objects.filter(study=study)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        "study": study.slug,
        "title": study.title,
        "status": study.status,
        "question": study.question,
        "scale": f"0 ({study.scale_min_label}) to 100 ({study.scale_max_label})",
        "target_per_form": study.target_per_form,
        "min_listen_s": study.min_listen_s,
        "min_trial_s": study.min_trial_s,
        "loudness_target_lufs": study.loudness_target_lufs,
        "headphone_check": study.headphone_check,
        "attention_trials": study.attention_trials,
        "screen_out_on_attention_fail": study.screen_out_on_attention_fail,
        "live_at": study.live_at.isoformat() if study.live_at else None,
        "closed_at": study.closed_at.isoformat() if study.closed_at else None,
        "forms": [
            {
                "form": f.name,
                "kind": getattr(f, "kind", "rating"),
                "n_videos": f.n_videos,
                "n_trials": f.n_trials,
                "conditions": sorted(c.name for c in f.conditions.all()),
                "seed": f.seed,
                "sampled_at": f.sampled_at.isoformat() if f.sampled_at else None,
            }
            for f in forms
        ],
        # which captions feed each condition (the paper's msi: MusiScene's predictions)
        "caption sources": {
            c.name: c.caption_source
            for f in forms
            for c in sorted(f.conditions.all(), key=lambda c: c.name)
        },
        # the rating forms (an annotation form has no conditions and no ratings to analyse)
        "conditions": {
            f.name: sorted(c.name for c in f.conditions.all()) for f in forms if f.conditions.all()
        },
        "participants": {s: status.get(s, 0) for s in Participant.Status.values},
        "removed after collection": _removed(study),
        "server software": server_versions(),
    }


def _removed(study: Study) -> str:
    """What was deleted from the collected data, in words (the deletions table has each one)."""
    counts = dict(
        DataDeletion.objects.filter(study=study)
        .values_list("what")
        .annotate(n=Count("id"))
        .order_by()
    )
    withdrawn = Withdrawal.objects.filter(study=study).count()
    if not counts and not withdrawn:
        return "nothing"
    parts = [
        f"{counts[w]} {w}{'s' if counts[w] != 1 else ''}"
        for w in DataDeletion.What.values
        if counts.get(w)
    ]
    text = ""
    if parts:
        text = " and ".join(parts) + " deleted (each in deletions.csv: who, when, what)"
    if withdrawn:  # only their number: a withdrawal leaves no data, not even in the bundle
        people = f"{withdrawn} participant{'s' if withdrawn != 1 else ''} withdrew"
        text = f"{text}; {people}" if text else people
    return text


def server_versions() -> dict[str, str]:
    """The web side's versions (the report adds Python and the analysis packages)."""
    web = {"django": django.get_version(), "database": f"{connection.vendor}"}
    return {**web, **software_versions(("djangorestframework", "pyarrow"), python=False)}


def track_provenance(*, study: Study) -> pd.DataFrame:
    """One row per track shown in the study: form, clip, condition and how the track was made."""
    rows = (
        TrialTrack.objects.filter(trial__form__study=study)
        .order_by("trial__form__name", "trial__position", "condition__name")
        .values_list(
            "trial__form__name",
            "trial__clip__key",
            "condition__name",
            "track_id",
            "track__generator",
            "track__model_id",
            "track__model_revision",
            "track__seed",
            "track__parameters",
            "track__prompt",
            "track__loudness_target_lufs",
            "track__duration_s",
        )
    )
    columns = [
        "form",
        "clip",
        "condition",
        "track",
        "generator",
        "model_id",
        "model_revision",
        "seed",
        "parameters",
        "prompt",
        "loudness_target_lufs",
        "duration_s",
    ]
    df = pd.DataFrame.from_records(list(rows), columns=columns)
    df["parameters"] = df["parameters"].map(lambda p: json.dumps(p, sort_keys=True, default=str))
    df["seed"] = df["seed"].astype("Int64")
    return df


def _seeds_text(seeds: list[int | None]) -> str:
    known = sorted({int(s) for s in seeds if s is not None and not pd.isna(s)})
    missing = sum(1 for s in seeds if s is None or pd.isna(s))
    if not known:
        text = "none recorded"
    elif len(known) <= 8:
        text = ", ".join(map(str, known))
    elif known == list(range(known[0], known[-1] + 1)):
        text = f"{known[0]}-{known[-1]}"
    else:
        text = f"{len(known)} distinct, {known[0]} to {known[-1]}"
    return text + (f" ({missing} without a seed)" if missing and known else "")


def condition_provenance(
    *, study: Study, tracks: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Per condition (and generator/model): how its tracks were made.

    Parameters with one value across the condition's tracks are listed with that value; the ones
    that differ per track (a per-clip tempo, say) are named in ``varies per track``; the per-track
    values are in the bundle's ``track_provenance.csv``.
    """
    tracks = track_provenance(study=study) if tracks is None else tracks
    if tracks.empty:
        return []
    labels, sources = {}, {}
    shown = TrialTrack.objects.filter(trial__form__study=study).values("condition_id")
    for cond in Condition.objects.filter(pk__in=shown):
        labels[cond.name], sources[cond.name] = cond.label, cond.caption_source
    out = []
    unique = tracks.drop_duplicates("track")
    for (cond, gen, model, rev), part in unique.groupby(
        ["condition", "generator", "model_id", "model_revision"], sort=True, dropna=False
    ):
        params = [json.loads(p) for p in part["parameters"]]
        keys = sorted({k for p in params for k in p})
        constant, varying = {}, []
        for k in keys:
            vals = {json.dumps(p.get(k), sort_keys=True, default=str) for p in params}
            if len(vals) == 1:
                constant[k] = params[0].get(k)
            else:
                varying.append(k)
        out.append(
            {
                "condition": cond,
                "label": labels.get(cond, ""),
                "caption source": sources.get(cond, ""),
                "generator": gen,
                "model": model or "—",
                "model revision": rev or "—",
                "tracks": len(part),
                "seeds": _seeds_text(list(part["seed"])),
                "parameters": constant,
                "varies per track": ", ".join(varying) or "—",
                "forms": ", ".join(
                    sorted(set(tracks.loc[tracks["track"].isin(part["track"]), "form"]))
                ),
            }
        )
    return out


def _objective_metrics(
    study: Study, ratings: pd.DataFrame
) -> tuple[pd.DataFrame | None, str | None]:
    """The stored objective metrics of ``study`` (``None`` when none are stored), correlated with
    ``ratings`` (the screened ones); a failure there becomes a note, not a failed report."""
    try:
        return metrics_table(study, ratings=ratings), None
    except Exception as exc:  # the metrics are an extra: the ratings report still stands
        logger.exception("objective metrics of %s failed", study.slug)
        note = f"the objective metrics could not be loaded: {exc}"
        return pd.DataFrame({"note": [note]}), note


@dataclass
class StudyReport:
    """The HTML page and everything it was built from."""

    html: str
    analysis: Analysis
    ratings: pd.DataFrame
    participants: pd.DataFrame
    design: dict[str, Any]
    tracks: pd.DataFrame
    deletions: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    @property
    def n_ratings(self) -> int:
        return int((~self.ratings["is_attention"]).sum()) if len(self.ratings) else 0

    @property
    def n_participants(self) -> int:
        rated = self.ratings.loc[~self.ratings["is_attention"], "participant"]
        return int(rated.nunique())


def study_report(*, study: Study, settings: AnalysisSettings | None = None) -> StudyReport:
    """Export the study, analyse it and render the offline HTML report.

    ``notes`` lists, in plain words, what the data could not support (no ratings yet, one
    participant, a condition without ratings...): the page shows the same messages.
    """
    settings = settings or AnalysisSettings()
    ratings = ratings_frame(study=study)
    people = participants_frame(study=study)
    assigned = people.loc[people["form"].notna()].reset_index(
        drop=True
    )  # declined: no form, no data
    design = study_design(study=study)
    tracks = track_provenance(study=study)
    provenance = condition_provenance(study=study, tracks=tracks)
    analysis = analyze(ratings, assigned, settings=settings, conditions=design["conditions"])
    metrics, metrics_note = _objective_metrics(study, analysis.screening.ratings)
    empty = not len(ratings) or not (~ratings["is_attention"]).any()
    title = f"Listening-study report: {study.title}" + (" (no ratings yet)" if empty else "")
    html = build_report(
        ratings,
        assigned,
        design=design,
        provenance=provenance,
        settings=settings,
        metrics=metrics,
        analysis=analysis,
        title=title,
    )
    notes = []
    if empty:
        notes.append(
            f"study {study.slug!r} has no ratings yet: the report says so and has no statistics"
        )
    for form, fa in analysis.screened.items():
        for key, text in fa.messages.items():
            notes.append(f"{form}: {key}: {text}")
    n_simulated = simulated_with_ratings(ratings, people)
    if n_simulated:
        notes.append(
            f"{n_simulated:,} participants with ratings are simulated, not people "
            "(the participants table's 'simulated' column)"
        )
    if metrics_note:
        notes.append(metrics_note)
    if design["removed after collection"] != "nothing":
        notes.append(f"data removed after collection: {design['removed after collection']}")
    return StudyReport(
        deletions=deletions_frame(study=study),
        html=html,
        analysis=analysis,
        ratings=ratings,
        participants=people,
        design=design,
        tracks=tracks,
        notes=notes,
    )


def write_report_bundle(
    report: StudyReport, target: str | Path | BinaryIO, *, free_text: bool = False
) -> list[str]:
    """Every table of the analysis as CSV in a zip (see ``analysis.report.write_csv_bundle``),
    plus the exported ``ratings.csv`` and ``participants.csv``, ``track_provenance.csv`` and
    ``design.json``. Returns the member names. Meant for publication: pseudonymised (public
    participant ids, no recruiter ids, free text only with ``free_text``)."""
    from analysis.exports import pseudonymise

    names = write_csv_bundle(report.analysis, target)
    with zipfile.ZipFile(target, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, df in (
            ("ratings", pseudonymise(report.ratings, free_text=free_text)),
            ("participants", pseudonymise(report.participants, free_text=free_text)),
            ("track_provenance", report.tracks),
            ("deletions", report.deletions),
        ):
            zf.writestr(f"{name}.csv", csv_text(df, header=True))
            names.append(f"{name}.csv")
        zf.writestr("design.json", json.dumps(report.design, indent=2, default=str))
        names.append("design.json")
    return names


def report_http_response(
    *, study: Study, kind: str = "html", settings: AnalysisSettings | None = None
) -> HttpResponse:
    """The report as a page (``kind="html"``) or its tables as a zip download (``"zip"``)."""
    report = study_report(study=study, settings=settings)
    if kind == "zip":
        buf = io.BytesIO()
        write_report_bundle(report, buf)
        resp = HttpResponse(buf.getvalue(), content_type="application/zip")
        resp["Content-Disposition"] = f'attachment; filename="{study.slug}-report-tables.zip"'
        return resp
    if kind != "html":
        raise ExportError(f"unknown report kind {kind!r}; use html or zip")
    resp = HttpResponse(report.html, content_type="text/html; charset=utf-8")
    resp["Content-Security-Policy"] = report_csp(report.html)
    return resp


_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.S)


def report_csp(page: str) -> str:
    """A Content-Security-Policy for the report page: its own inline scripts (plotly.js and the
    figures, allowed by hash) and styles, nothing from the network, no forms, no framing.

    The site's policy allows no inline script, which would leave the page without figures;
    hashes keep any other script out. (Plotly escapes ``</`` in the figure data, and every
    other text of the page is HTML-escaped, so no script can be injected through a title.)"""
    hashes = " ".join(
        "'sha256-{}'".format(
            base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode()
        )
        for m in _SCRIPT.finditer(page)
    )
    script_src = hashes or "'none'"
    return (
        f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action "
        "'none'; "
        "frame-ancestors 'self'"
    )
