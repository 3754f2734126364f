"""python manage.py caption_clips --kinds video,music,fusion,msi [--clips KEY ...] [--backend ...]

Writes the missing captions of clips: video (GIT), music (MU-LLaMA), fusion and MSI (the paper's
Mixtral prompts, on a local model or an OpenAI-compatible server) and, with a trained MusiScene,
predicted MSI. Only what is missing is written, so running it again after an interruption goes
on where it stopped. Without a broker the job runs here with a progress line per batch; with
one it is enqueued (``--wait`` follows it).
"""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation import captioning
from generation.models import CaptionJob, Clip


def _kinds(value: str) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()]


class Command(BaseCommand):
    help = "Write the missing video, music, fusion, MSI (and predicted MSI) captions of clips."

    def add_arguments(self, parser):
        parser.add_argument(
            "--kinds",
            type=_kinds,
            required=True,
            help=f"comma-separated, of {','.join(captioning.PIPELINE_KINDS)}",
        )
        parser.add_argument(
            "--clips", nargs="+", metavar="KEY", help="clip keys (default: every clip)"
        )
        parser.add_argument(
            "--split",
            metavar="NAME",
            help="only the held-out (test) clips of this stored split (export_vacad draws it): "
            "predicted MSI for clips the model was not trained on",
        )
        parser.add_argument(
            "--video-model",
            help=f"GIT video captioner id or folder (default {captioning.DEFAULT_VIDEO_MODEL})",
        )
        parser.add_argument(
            "--music-checkpoint",
            help="MU-LLaMA base adapter (a converted MusiScene checkpoint folder)",
        )
        parser.add_argument(
            "--musiscene-checkpoint",
            help="a trained MusiScene checkpoint: writes msi_pred captions",
        )
        parser.add_argument(
            "--backend",
            help="fusion/MSI composer: local:PATH (a transformers model) or http:URL "
            f"(an OpenAI-compatible server, up to /v1); default local:{captioning.DEFAULT_LLM}",
        )
        parser.add_argument(
            "--llm-model", help="the model name the HTTP server serves (default the Mixtral id)"
        )
        parser.add_argument(
            "--prompt-set",
            choices=("paper", "released"),
            help="fusion/MSI prompts: paper (Table 1: 'What type of scene the music is suitable "
            "for?', the default) or released (the authors' script: 'Describe the video ...')",
        )
        parser.add_argument(
            "--api",
            choices=("completions", "chat"),
            help="HTTP API (default completions: the paper's template sent as is)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            dest="timeout_s",
            help="HTTP timeout per request, seconds (120)",
        )
        parser.add_argument("--retries", type=int, help="HTTP retries after a timeout or 5xx (4)")
        parser.add_argument("--concurrency", type=int, help="HTTP requests in flight (1)")
        parser.add_argument("--batch-size", type=int, help="clips per model call (8)")
        parser.add_argument("--seed", type=int, help="sampling seed (0)")
        parser.add_argument(
            "--max-new-tokens", type=int, help="cap on generated tokens (default: each model's own)"
        )
        parser.add_argument("--label", default="", help="what the job is for")
        parser.add_argument(
            "--wait", action="store_true", help="with a broker: follow the job until it finishes"
        )

    def handle(self, *args, kinds, clips, label, wait, split=None, **options):
        from celery import current_app

        queryset = Clip.objects.order_by("key")
        if split:
            from generation.splits import split_clips

            try:
                queryset = split_clips(split, "test")
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        if clips:
            queryset = queryset.filter(key__in=clips)
            unknown = sorted(set(clips) - set(queryset.values_list("key", flat=True)))
            if unknown:
                raise CommandError(f"no clips with the keys {', '.join(unknown)}")
        names = (
            "video_model",
            "music_checkpoint",
            "musiscene_checkpoint",
            "backend",
            "llm_model",
            "api",
            "timeout_s",
            "retries",
            "concurrency",
            "batch_size",
            "seed",
            "max_new_tokens",
            "prompt_set",
        )
        job_options = {k: options[k] for k in names if options.get(k) is not None}
        try:
            job = captioning.caption_job_create(
                clips=queryset, kinds=kinds, options=job_options, label=label or "caption_clips"
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        total = job.items.count()
        self.stdout.write(
            f"{job}: {total} captions to write for {queryset.count()} clips "
            "(the others exist already)"
        )
        if current_app.conf.task_always_eager:
            job = captioning.caption_job_run(job=job, progress=self._progress)
        else:
            captioning.caption_job_start(job=job)
            self.stdout.write(f"enqueued {job}; follow it in the admin (Caption jobs)")
            if not wait:
                return
            while True:
                progress = captioning.caption_job_progress(job=job)
                self._progress(progress)
                if progress["finished"]:
                    break
                time.sleep(2)
            job.refresh_from_db()
        self._report(job)

    def _progress(self, p: dict) -> None:
        kinds = ", ".join(f"{k} {v['done']}/{v['total']}" for k, v in p["by_kind"].items())
        self.stdout.write(
            f"  {p['done'] + p['failed']}/{p['total']} ({p['failed']} failed) {kinds}"
        )

    def _report(self, job: CaptionJob) -> None:
        p = captioning.caption_job_progress(job=job)
        for err in p["errors"]:
            self.stderr.write(f"{err['clip']} {err['kind']}: {err['error']}")
        if job.status == CaptionJob.Status.FAILED:
            raise CommandError(f"{job} failed: {job.error}")
        self.stdout.write(self.style.SUCCESS(f"{job}: {p['done']} written, {p['failed']} failed"))
        if p["failed"]:
            raise CommandError(
                f"{p['failed']} captions could not be written (see above); run the command again "
                "to retry only what is missing"
            )
