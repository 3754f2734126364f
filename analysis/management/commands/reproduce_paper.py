"""python manage.py reproduce_paper --out runs/paper [--demo N] [--tiny] [--simulate N] [--seed 0]

The paper's experiment as one resumable run: clips -> captions -> VACAD with the stored 80/20
split -> MusiScene fine-tuned from MU-LLaMA on the training split -> MSI predicted for the
held-out clips -> the four conditions' tracks -> the two forms from held-out clips ->
FAD and KL of the tracks against the clips' original audio -> (ratings) -> one report with
Tables 2, 3, 4 and 5 in the paper's layout beside the published values. Each step writes what it
did, its settings and seeds to ``OUT/state.json``; a rerun does only the steps (and the items)
that are missing.

``--demo N`` uses N synthetic demo clips; ``--tiny`` builds tiny random LLaMA and MERT models, a
random stand-in for MU-LLaMA and tiny random VGGish and AST (Table 3), so that the whole loop
runs on a laptop in minutes. Numbers made with tiny models or the demo's content are
meaningless; the report says so. Real models: ``--llama``, ``--mert``, ``--init`` (a converted
MU-LLaMA) and ``--epochs``; tracks are sketches unless ``--musicgen MODEL`` is given; Table 3
needs ``--vggish FILE`` (torchvggish's weights) and reads KL with ``--kl-classifier`` (default
auto: PaSST where installed, else AST from the cache).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

# The paper's numbers: table2 model -> [B-U, M-R, R-L, B-S], form -> condition -> mean rating.
PUBLISHED: dict[str, Any] = {
    "table2": {"MU-LLaMA": [0.190, 0.207, 0.219, 0.863], "MusiScene": [0.421, 0.403, 0.404, 0.901]},
    "form1": {"msi": 74.2, "music_caps": 73.5, "video_caps": 61.4},
    "form2": {"msi": 78.4, "fusion": 76.6},
    # Table 3: condition -> (FAD, KL)
    "table3": {
        "msi": ("MSI (Ours)", 5.78, 2.10),
        "video_caps": ("Video Caps", 4.46, 2.13),
        "music_caps": ("Music Caps", 6.43, 2.12),
        "fusion": ("Fusion", 6.62, 2.05),
    },
}
SLUG = "paper-reproduction"
STEPS = ("clips", "split", "train", "predict", "tracks", "study", "metrics", "ratings", "report")


class Command(BaseCommand):
    help = "Run the paper's experiment end to end (resumable): clips to Tables 2, 3, 4 and 5."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="folder for every output")
        parser.add_argument("--demo", type=int, default=0, metavar="N", help="N demo clips")
        parser.add_argument("--clip-seconds", type=float, default=2.0, help="demo clip length")
        parser.add_argument("--tiny", action="store_true", help="tiny random models (a laptop)")
        parser.add_argument("--llama", default="", help="LLaMA id or folder")
        parser.add_argument("--mert", default="", help="MERT id or folder")
        parser.add_argument("--init", default="", help="converted MU-LLaMA checkpoint folder")
        parser.add_argument(
            "--epochs", type=int, default=20, help="MusiScene training epochs (the paper: 20)"
        )
        parser.add_argument("--musicgen", default="", help="MusicGen model (default: sketches)")
        parser.add_argument("--vggish", default="", help="VGGish weights (.pth) for Table 3's FAD")
        parser.add_argument(
            "--kl-classifier", default="auto", help="Table 3's KL classifier (as audio_metrics)"
        )
        parser.add_argument("--simulate", type=int, default=0, metavar="N", help="simulated raters")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of sampling, training and simulation"
        )

    def handle(self, *args, **o):
        _database_ready()
        out: Path = o["out"]
        out.mkdir(parents=True, exist_ok=True)
        state_path = out / "state.json"
        state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
        settings = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in o.items()
            if k
            in (
                "demo",
                "clip_seconds",
                "tiny",
                "llama",
                "mert",
                "init",
                "epochs",
                "musicgen",
                "vggish",
                "kl_classifier",
                "simulate",
                "seed",
            )
        }
        state.setdefault("settings", settings)
        steps = state.setdefault("steps", {})

        def run(name: str, fn) -> None:
            if steps.get(name, {}).get("done"):
                self.stdout.write(f"[{STEPS.index(name) + 1}/{len(STEPS)}] {name}: done already")
                return
            t0 = time.perf_counter()
            self.stdout.write(f"[{STEPS.index(name) + 1}/{len(STEPS)}] {name} ...")
            info = fn() or {}
            steps[name] = {"done": True, "seconds": round(time.perf_counter() - t0, 1), **info}
            state_path.write_text(json.dumps(state, indent=2, default=str) + "\n")

        ctx: dict[str, Any] = {}
        if o["demo"] and not steps.get("clips", {}).get("done"):
            _demo_database_check(o["demo"], o["clip_seconds"])
        if not steps.get("metrics", {}).get("done"):
            # Table 3's models load now: a missing one stops the run before any step, not hours in
            ctx["table3_models"] = self._table3_models(o, out)
        run("clips", lambda: self._clips(o))
        run("split", lambda: self._split(o, out))
        run("train", lambda: self._train(o, out, ctx))
        run("predict", lambda: self._predict(o, out, steps))
        run("tracks", lambda: self._tracks(o, steps))
        run("study", lambda: self._study(o))
        run("metrics", lambda: self._metrics(o, ctx))
        if o["simulate"] or steps.get("ratings", {}).get("done"):
            run("ratings", lambda: self._ratings(o))
        run("report", lambda: self._report(o, out, steps))
        self.stdout.write(
            self.style.SUCCESS(f"report: {out / 'report.md'} and {out / 'report.html'}")
        )

    # ------------------------------------------------------------------ steps
    def _clips(self, o):
        from generation.models import Clip

        if o["demo"]:
            from generation.demo import demo_clips_ensure

            clips = demo_clips_ensure(
                n_clips=o["demo"], duration_s=o["clip_seconds"], seed=o["seed"]
            )
            # what the run used: reused clips keep their length (the check above makes it this)
            seconds = sorted({round(c.duration_s, 1) for c in clips})
            return {"clips": len(clips), "source": "demo", "clip_seconds": seconds}
        n = Clip.objects.count()
        if not n:
            raise CommandError("no clips: import them (import_media) or pass --demo N")
        missing = _missing_captions()
        if missing:
            raise CommandError(
                f"{len(missing)} clips lack captions ({', '.join(missing[:5])}...): run "
                "caption_clips "
                "--kinds video,music,fusion,msi first"
            )
        return {"clips": n, "source": "existing"}

    def _split(self, o, out):
        from generation.vacad import vacad_export

        report = vacad_export(out_dir=out / "vacad", split=0.8, seed=o["seed"], split_name="paper")
        return {"splits": report.splits, "split_name": "paper", "seed": o["seed"]}

    def _train(self, o, out, ctx):
        from modeling.train_musiscene import TrainConfig, train

        llama, mert, init = o["llama"], o["mert"], o["init"]
        if o["tiny"]:
            llama, mert, init = _tiny_models(out / "tiny", o["seed"])
        if not (llama and mert):
            return {
                "skipped": "no LLaMA/MERT given (--tiny or --llama/--mert): MusiScene not trained"
            }
        config = TrainConfig(
            data=out / "vacad" / "vacad.jsonl",
            out_dir=out / "musiscene",
            llama=llama,
            mert=mert,
            init=init or None,
            epochs=1 if o["tiny"] else o["epochs"],
            batch_size=8,
            grad_accum=1 if o["tiny"] else 8,
            query_layers=2 if o["tiny"] else 20,
            seed=o["seed"],
            progress=False,
            resume=True,
            cpu=o["tiny"],
            precision="fp32" if o["tiny"] else "auto",
        )
        result = train(config)
        return {
            "checkpoint": str(result.checkpoint),
            "mu_llama": init,
            "llama": llama,
            "mert": mert,
            "config": config.to_json(),
            "tiny": o["tiny"],
        }

    def _predict(self, o, out, steps):
        from generation import captioning
        from generation.models import Condition
        from generation.splits import split_clips

        trained = steps["train"].get("checkpoint")
        if not trained:
            return {
                "skipped": "no trained MusiScene: the clips' existing msi_pred captions feed msi"
            }
        held = list(split_clips("paper", "test"))
        made = {}
        for name, ckpt in (("mu_llama", steps["train"].get("mu_llama")), ("musiscene", trained)):
            if not ckpt:
                continue
            job = captioning.caption_job_create(
                clips=held,
                kinds=["msi_pred"],
                options={
                    "musiscene_checkpoint": ckpt,
                    "seed": o["seed"],
                    "max_new_tokens": 16 if o["tiny"] else None,
                },
                label=f"reproduce_paper {name}",
            )
            job = captioning.caption_job_run(job=job)
            if job.status != job.Status.DONE:
                raise CommandError(f"predicting MSI with {ckpt} failed: {job.error}")
            made[name] = ckpt
        from generation.services import conditions_ensure_paper

        conditions_ensure_paper()
        Condition.objects.filter(name="msi").update(caption_model_id=trained)
        return {"checkpoints": made, "held_out": len(held), "msi_condition_reads": trained}

    def _tracks(self, o, steps):
        from generation import jobs
        from generation.services import conditions_ensure_paper
        from generation.splits import split_clips

        held = list(split_clips("paper", "test"))
        conditions = conditions_ensure_paper()
        generator = "musicgen" if o["musicgen"] else "sketch"
        job = jobs.job_create_for(
            clips=held,
            conditions=conditions,
            generator=generator,
            model=o["musicgen"],
            parameters={"duration_s": o["clip_seconds"] if o["demo"] else 10.0},
            seed=o["seed"],
            label="reproduce_paper",
        )
        job = jobs.job_run(job=job)
        return {
            "generator": generator,
            "model": job.model_id,
            "seed": o["seed"],
            "job": job.pk,
            "tracks_made": job.items.filter(status="done").count(),
        }

    def _study(self, o):
        from generation.splits import split_clips
        from survey import services
        from survey.models import Study

        held = list(split_clips("paper", "test"))
        study, _ = Study.objects.get_or_create(slug=SLUG, defaults={"title": "Paper reproduction"})
        if study.status == Study.Status.DRAFT:
            if not study.forms.exists():
                services.study_add_paper_forms(
                    study=study, seed=o["seed"], max_videos=len(held), clip_pool=held
                )
            services.study_go_live(study=study)
        forms = {f.name: f.trials.count() for f in study.forms.all()}
        return {
            "study": SLUG,
            "videos_per_form": forms,
            "paper_videos_per_form": {"form1": 15, "form2": 8},
        }

    def _table3_models(self, o, out) -> dict[str, str]:
        from analysis.metric_results import resolve_tagger_spec
        from analysis.metrics.embeddings import get_embedder
        from analysis.metrics.taggers import get_tagger

        if o["tiny"]:
            from analysis.metrics import tiny

            root = out / "tiny"
            vggish = root / "vggish" / "vggish.pth"
            if not vggish.is_file():
                tiny.build_tiny_vggish(root / "vggish", seed=o["seed"])
            ast = root / "ast"
            if not (ast / "config.json").is_file():
                tiny.build_tiny_ast(ast, seed=o["seed"])
            return {"embedding": f"vggish:{vggish}", "tagger": f"ast:{ast}"}
        if not o["vggish"]:
            raise CommandError(
                "Table 3's FAD needs VGGish: --vggish /models/vggish-10086976.pth (torchvggish's "
                "weights; or --tiny)"
            )
        embedding = f"vggish:{Path(o['vggish']).expanduser()}"
        tagger, _ = resolve_tagger_spec(o["kl_classifier"])
        try:
            get_embedder(embedding, device="cpu")
            get_tagger(tagger, device="cpu")
        except (ValueError, FileNotFoundError, LookupError, ImportError, OSError) as exc:
            raise CommandError(f"Table 3: {exc}") from exc
        return {"embedding": embedding, "tagger": o["kl_classifier"]}

    def _metrics(self, o, ctx):
        from analysis.metric_results import MetricsInputError, audio_metrics_run
        from survey.models import Study

        models = ctx["table3_models"]
        try:
            res = audio_metrics_run(
                study=Study.objects.get(slug=SLUG),
                metrics=["fad", "kl"],
                embedding=models["embedding"],
                reference="original",
                tagger=models["tagger"],
                audio_source="raw",
                seed=o["seed"],
            )
        except (MetricsInputError, ValueError, FileNotFoundError, LookupError, ImportError) as exc:
            raise CommandError(f"Table 3: {exc}") from exc
        rows = {
            r["condition"]: {
                k: (None if v != v else v)
                for k, v in r.items()
                if k in ("fad", "fad_frames", "fad_reference_frames", "kld", "kl_segments")
            }
            for r in res.table.to_dict("records")
        }
        return {
            "table3": rows,
            "embedding": res.settings.get("embedding"),
            "kl_classifier": res.settings.get("kl_classifier"),
            "kl_classifier_note": res.settings.get("kl_classifier_note", ""),
            "audio_source": res.settings.get("audio_source"),
            "reference": "original",
            "seed": o["seed"],
            "run": str(res.run),
            "stored": res.stored,
            "skipped": res.skipped,
            "tiny": o["tiny"],
        }

    def _ratings(self, o):
        from survey.models import Study
        from survey.simulation import simulate_participants

        study = Study.objects.get(slug=SLUG)
        summary = simulate_participants(study, o["simulate"], seed=o["seed"])
        self.stdout.write(f"  {summary}")
        return {"simulated": o["simulate"], "summary": str(summary)}

    def _report(self, o, out, steps):
        from analysis.stats import paper_tables
        from analysis.study_report import study_report
        from survey.models import Study

        study = Study.objects.get(slug=SLUG)
        report = study_report(study=study)
        (out / "report.html").write_text(report.html, encoding="utf-8")
        lines = ["# MusiScene paper reproduction", ""]
        if o["tiny"] or o["demo"]:
            lines += [
                "**Tiny models and/or the demo's synthetic content: these numbers are "
                "meaningless; they show that the loop runs, not what MusiScene does.**",
                "",
            ]
        lines += ["Settings and seeds: `state.json`.", "", "## Table 2 (held-out clips)", ""]
        lines += _table2(steps)
        lines += ["", "## Table 3 (tracks of the held-out clips)", ""]
        lines += _table3(steps, tiny=o["tiny"])
        ratings = report.ratings
        if len(ratings):
            data = ratings[~ratings["is_attention"]]
            tables = paper_tables(data)
            for n, form in ((4, "form1"), (5, "form2")):
                lines += [
                    f"## Table {n} ({form})",
                    "",
                    "| | " + " | ".join(PUBLISHED[form]) + " |",
                    "|---|" + "---|" * len(PUBLISHED[form]),
                ]
                t = tables.get(form)
                ours = [
                    f"{t.loc['mean', c]:.1f}" if t is not None and c in t else "-"
                    for c in PUBLISHED[form]
                ]
                lines += [
                    "| this run | " + " | ".join(ours) + " |",
                    "| paper | " + " | ".join(f"{v:.1f}" for v in PUBLISHED[form].values()) + " |",
                    "",
                ]
        else:
            lines += [
                "## Tables 4 and 5",
                "",
                "No ratings yet: collect them (or --simulate N).",
                "",
            ]
        (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return {"ratings": int(len(ratings))}


def _missing_captions() -> list[str]:
    from generation.models import Caption, Clip

    need = {"video", "music", "fusion", "msi"}
    have: dict[int, set[str]] = {}
    for cid, kind in Caption.objects.exclude(status="rejected").values_list("clip_id", "kind"):
        have.setdefault(cid, set()).add(kind)
    return [c.key for c in Clip.objects.order_by("key") if not need <= have.get(c.pk, set())]


def _tiny_models(root: Path, seed: int) -> tuple[str, str, str]:
    """Tiny random LLaMA and MERT, and a random stand-in for MU-LLaMA on them (made once)."""
    from modeling.tiny import build

    if not (root / "mu-llama").is_dir():
        import torch
        from transformers import AutoConfig

        from modeling.musiscene.config import MusiSceneConfig
        from modeling.musiscene.model import adapter_config_for, build_musiscene

        paths = build(root, ["llama", "mert"])
        enc = AutoConfig.from_pretrained(str(paths["mert"]))
        adapter = adapter_config_for(
            AutoConfig.from_pretrained(str(paths["llama"])),
            mert_layers=enc.num_hidden_layers + 1,
            mert_dim=enc.hidden_size,
            query_layers=2,
        )
        model = build_musiscene(
            MusiSceneConfig(llama=str(paths["llama"]), mert=str(paths["mert"]), adapter=adapter),
            seed=seed,
        )
        with torch.no_grad():
            for gated in model.gates:
                assert gated.gate is not None  # inject() gives each of them a gate
                gated.gate.fill_(1.0)
        model.save_checkpoint(root / "mu-llama")
    return str(root / "llama"), str(root / "mert"), str(root / "mu-llama")


def _table2(steps) -> list[str]:
    from analysis.metric_results import caption_metrics_run

    made = steps.get("predict", {}).get("checkpoints") or {}
    if not made:
        return ["Not computed: no MusiScene was trained in this run (--tiny, or --llama/--mert)."]
    names = {"mu_llama": "MU-LLaMA", "musiscene": "MusiScene"}
    res = caption_metrics_run(
        reference="msi",
        candidates=[f"msi_pred@{ckpt}" for ckpt in made.values()],
        modes=["mu-llama"],
        bertscore_model="",
        split="paper",
    )
    lines = ["| Model | checkpoint | B-U | M-R | R-L | B-S |", "|---|---|---|---|---|---|"]
    for (key, ckpt), (_, row) in zip(made.items(), res.table.iterrows(), strict=True):
        vals = [row["bleu_avg"], row["meteor"], row["rouge_l"], row["bertscore"]]
        fmt = " | ".join("-" if v is None or v != v else f"{v:.3f}" for v in vals)
        lines.append(f"| {names[key]} (this run) | {ckpt} | {fmt} |")
    for name, vals in PUBLISHED["table2"].items():
        lines.append(f"| {name} (paper) | | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    lines.append("")
    lines.append("BERTScore left out (no model downloaded); METEOR needs WordNet.")
    return lines


def _table3(steps, *, tiny: bool) -> list[str]:
    info = steps.get("metrics") or {}
    rows = info.get("table3") or {}

    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.3g}"  # tiny models give values near 0

    lines = [
        "| Text input | FAD (this run) | KL (this run) | FAD (paper) | KL (paper) |",
        "|---|---|---|---|---|",
    ]
    for cond, (label, fad, kl) in PUBLISHED["table3"].items():
        r = rows.get(cond, {})
        lines.append(
            f"| {label} | {num(r.get('fad'))} | {num(r.get('kld'))} | {fad:.2f} | {kl:.2f} |"
        )
    frames = ", ".join(f"{c} {r.get('fad_frames')}" for c, r in rows.items())
    note = info.get("kl_classifier_note") or ""
    lines += [
        "",
        f"FAD: {info.get('embedding')} over all frames of each condition ({frames}) against "
        "the clips' original audio; KL (audiocraft's KL(reference||generated)): "
        f"{info.get('kl_classifier')}" + (f" ({note})" if note else "") + "; "
        f"{info.get('audio_source')} generator output.",
    ]
    if tiny:
        lines.append(
            "Tiny random VGGish and AST: these FAD and KL values are meaningless "
            "(they show that the step runs)."
        )
    return lines + [""]


def _database_ready() -> None:
    """Stop before any step, naming the fix, when the settings' database cannot be reached or
    lacks a migration (a fresh DATABASE_URL is not migrated by this command)."""
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    db = connection.settings_dict
    where = f"{connection.vendor} database {db['NAME']!s}" + (
        f" on {db['HOST']}" if db.get("HOST") else ""
    )
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise CommandError(
            f"the {where} cannot be read ({exc}): check DATABASE_URL, then run "
            "python manage.py migrate"
        ) from None
    if plan:
        raise CommandError(
            f"the {where} lacks {len(plan)} migrations: run python manage.py migrate with the "
            "same DATABASE_URL first (the README's tiny run: export "
            "DATABASE_URL=sqlite:///var/paper.sqlite3, then migrate), or set DATABASE_URL to a "
            "database that is migrated"
        )


def _demo_database_check(n: int, clip_seconds: float) -> None:
    """``--demo N`` on a database of its own: the split takes every clip of the database, and
    demo clips made before keep their length, so other clips or clips of another length would
    make a run that is not the one asked for. Stops before any step, saying why."""
    from generation import democontent
    from generation.models import Clip

    if not 0 < n <= len(democontent.SCENES):
        raise CommandError(f"--demo takes 1 to {len(democontent.SCENES)} clips, not {n}")
    own_db = (
        "give the run a database of its own (export DATABASE_URL=sqlite:///var/paper.sqlite3, "
        "then python manage.py migrate)"
    )
    wanted = [f"demo-{scene.key}" for scene in democontent.SCENES[:n]]
    others = list(
        Clip.objects.exclude(key__in=wanted).order_by("key").values_list("key", flat=True)
    )
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise CommandError(
            f"--demo {n}: this database holds {len(others)} other clips ({shown}) and the "
            f"run's split would take them all: {own_db}"
        )
    lengths = sorted(
        {
            round(d, 1)
            for d in Clip.objects.filter(key__in=wanted).values_list("duration_s", flat=True)
            if abs(d - clip_seconds) > 0.1
        }
    )
    if lengths:
        raise CommandError(
            f"--clip-seconds {clip_seconds:g}: this database's demo clips are "
            f"{', '.join(f'{x:g}' for x in lengths)} s long and a run reuses them as they are: "
            f"pass --clip-seconds {lengths[0]:g}, or {own_db}"
        )
