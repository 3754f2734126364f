"""python manage.py audio_metrics --study SLUG --metrics fad,kl,clap --embedding NAME[:PATH]
   [--reference original|CONDITION] [--tagger auto|ast[:PATH]|passt:CHECKPOINT]
   [--kl-definition audiocraft|stable-audio] [--clap-model PATH] [--equal-frames] [--frames N]
   [--audio raw|listening] [--fad-inf] [--seed 0] [--no-store]

The paper's Table 3 for a study's tracks, computed on the generator's raw output (kept beside
the loudness-normalised listening copy): FAD per condition over all its frames against the
clips' original audio (or a reference condition's tracks), with the counts (--equal-frames:
the same number of frames from every condition); KL over the AudioSet classes per clip pair
(audiocraft's definition by default; PaSST as in the paper where it is on this machine, else
AST, and the output says which); the CLAP score of each track with its prompt. Prints the table and
stores every value with its settings for the analysis report.
Models are loaded from local paths or the local Hugging Face cache, never downloaded.
"""

from __future__ import annotations

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from analysis.metric_results import KL_DEFINITIONS, MetricsInputError, audio_metrics_run
from survey.models import Study


class Command(BaseCommand):
    help = (
        "FAD, KL and CLAP score of a study's tracks per condition (the paper's Table 3); stores "
        "the results."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument(
            "--metrics", default="fad,kl", help="comma-separated: fad, kl, clap (default fad,kl)"
        )
        parser.add_argument(
            "--embedding",
            default=None,
            help="FAD embedding NAME[:PATH]: vggish:FILE.pth (Google's framing), "
            "vggish-torch:FILE, "
            "clap[:MODEL], encodec[:MODEL], mert[:MODEL]",
        )
        parser.add_argument(
            "--reference",
            default="original",
            help="original (each clip's original audio, default) or a condition of the study",
        )
        parser.add_argument(
            "--tagger",
            "--classifier",
            dest="tagger",
            default="auto",
            help="KL classifier: auto (default: PaSST as in the paper when hear21passt and its "
            "checkpoint, $MUSISCENE_PASST_CHECKPOINT, are here, else AST), ast[:MODEL] or "
            "passt:CHECKPOINT",
        )
        parser.add_argument(
            "--kl-definition",
            choices=KL_DEFINITIONS,
            default="audiocraft",
            help="audiocraft: KL(reference||generated) per 10 s segment (default); "
            "stable-audio: KL(generated||reference) per file",
        )
        parser.add_argument(
            "--clap-model",
            default=None,
            help="CLAP model for the CLAP score (default: the --embedding's if clap, "
            "else laion/clap-htsat-unfused from the local cache)",
        )
        parser.add_argument(
            "--frames",
            type=int,
            default=None,
            help="draw this many frames from every condition for FAD (implies --equal-frames)",
        )
        parser.add_argument(
            "--fad-inf",
            action="store_true",
            help="also FAD-inf (needs over 500 frames per condition)",
        )
        parser.add_argument(
            "--equal-frames",
            action="store_true",
            help="FAD at equal frame counts (the smallest condition's count, seeded) instead of "
            "over all frames of each condition",
        )
        parser.add_argument(
            "--audio",
            choices=["raw", "listening"],
            default="raw",
            help="raw: the generator's raw output (default; the listening copy where a track has "
            "none); listening: the loudness-normalised copy participants heard",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the frame draw (default 0)"
        )
        parser.add_argument(
            "--device", default=None, help="torch device (default: cuda if present)"
        )
        parser.add_argument("--no-store", action="store_true", help="print only; store nothing")

    def handle(self, *args, **o):
        study = Study.objects.filter(slug=o["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {o['study']!r}")
        say = self.stdout.write if o["verbosity"] >= 2 else None
        try:
            res = audio_metrics_run(
                study=study,
                metrics=o["metrics"].split(","),
                embedding=o["embedding"],
                reference=o["reference"],
                tagger=o["tagger"],
                kl_definition=o["kl_definition"],
                clap_model=o["clap_model"],
                frames=o["frames"],
                equal_frames=o["equal_frames"],
                audio_source=o["audio"],
                fad_inf=o["fad_inf"],
                seed=o["seed"],
                device=o["device"],
                store=not o["no_store"],
                progress=say,
            )
        except (MetricsInputError, ValueError, FileNotFoundError, LookupError, ImportError) as exc:
            # bad input, a model that is not on this machine, an unknown embedding name ...
            raise CommandError(str(exc)) from exc

        for line in res.skipped:
            self.stdout.write(f"skipped: {line}")
        described = ", ".join(f"{k} {v}" for k, v in res.settings.items() if k not in ("metrics",))
        self.stdout.write(f"Table 3 for study {study.slug}: {described}")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            self.stdout.write(
                res.table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
            )
        if "fad_frames" in res.table.columns:
            if res.settings.get("fad_frames") == "equal":
                self.stdout.write(
                    "FAD compares conditions at equal frame counts (fad_frames); values at "
                    "other counts are not comparable."
                )
            else:
                self.stdout.write(
                    "FAD over all frames of each condition (fad_frames): FAD falls as frames "
                    "grow, so conditions with different counts differ partly by that "
                    "(--equal-frames compares at equal counts)."
                )
        if "kl_classifier" in res.settings:
            note = res.settings.get("kl_classifier_note") or ""
            self.stdout.write(
                f"KL classifier: {res.settings['kl_classifier']}" + (f" ({note})" if note else "")
            )
        if o["no_store"]:
            self.stdout.write("nothing stored (--no-store)")
        else:
            self.stdout.write(f"stored {res.stored} results (run {res.run})")
