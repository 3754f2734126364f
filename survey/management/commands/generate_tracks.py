"""python manage.py generate_tracks --study SLUG --generator musicgen|sketch --model PATH_OR_ID
   [--duration 10] [--batch-size 8] [--seed 0] [--top-k 250] [--temperature 1.0]
   [--guidance-scale 3.0] [--no-wait]

Makes the missing tracks of a study: every (trial clip, condition) of its forms whose track for
this generator, model, seed and parameters does not exist yet; then, in a draft study, binds the
newest tracks to the trials, those an earlier job or the admin made included. With
CELERY_BROKER_URL set the job goes to the workers and a progress bar follows it (Ctrl-C stops
watching, not the job); without a broker it runs here.
"""

from __future__ import annotations

import time
from typing import Any

from celery import current_app
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation import jobs
from generation.models import GenerationJob
from survey import services
from survey.models import Study
from survey.selectors import study_generation_cells


class ProgressBar:
    """One line redrawn in place on a terminal; a line per change otherwise (logs, CI)."""

    def __init__(self, stream, width: int = 30):
        self.stream, self.width = stream, width
        self.last: str | None = None
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, p: dict[str, Any]) -> None:
        total = p["total"] or 1
        filled = round(self.width * (p["done"] + p["failed"]) / total)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {p['done'] + p['failed']}/{p['total']} "
            "tracks"
            f" ({p['done']} made, {p['failed']} failed, {p['generating']} generating,"
            f" {p['ingesting']} ingesting) {p['status']}"
        )
        if line == self.last:
            return
        self.last = line
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Generate a study's missing tracks (MusicGen or sketch) on the Celery workers, or here "
        "without a broker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="the study's slug")
        parser.add_argument(
            "--generator", choices=GenerationJob.Generator.values, default="musicgen"
        )
        parser.add_argument(
            "--model", default="", help="MusicGen id (HF cache / $MUSISCENE_MODEL_DIR) or folder"
        )
        parser.add_argument(
            "--duration", type=float, default=10.0, help="seconds per track (default 10)"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=jobs.DEFAULT_BATCH_SIZE,
            help=f"tracks per model call (default {jobs.DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="sampling seed of every track (default 0)"
        )
        parser.add_argument("--top-k", type=int, default=jobs.MUSICGEN_DEFAULTS["top_k"])
        parser.add_argument(
            "--temperature", type=float, default=jobs.MUSICGEN_DEFAULTS["temperature"]
        )
        parser.add_argument(
            "--guidance-scale", type=float, default=jobs.MUSICGEN_DEFAULTS["guidance_scale"]
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="enqueue and return (with a broker)"
        )
        parser.add_argument(
            "--poll", type=float, default=1.0, help="seconds between progress updates"
        )

    def handle(
        self,
        *args,
        study: str,
        generator: str,
        model: str,
        duration: float,
        batch_size: int,
        seed: int,
        top_k: int,
        temperature: float,
        guidance_scale: float,
        no_wait: bool,
        poll: float,
        **options,
    ):
        study_obj = Study.objects.filter(slug=study).first()
        if study_obj is None:
            raise CommandError(f"no study with slug {study!r}")
        parameters: dict[str, Any] = {"duration_s": duration, "batch_size": batch_size}
        if generator == GenerationJob.Generator.MUSICGEN:
            parameters.update(top_k=top_k, temperature=temperature, guidance_scale=guidance_scale)
        cells = study_generation_cells(study=study_obj)
        if not cells:
            raise CommandError(
                f"study {study!r} has no trials yet: add forms and sample them first"
            )
        try:
            jobs.generator_check(generator=generator, model=model)
            job = jobs.job_create(
                cells=cells,
                generator=generator,
                model=model,
                parameters=parameters,
                seed=seed,
                loudness_target_lufs=study_obj.loudness_target_lufs,
                label=f"study {study_obj.slug}",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        total = job.items.count()
        self.stdout.write(
            f"job {job.pk}: {total} of {len(set((c.pk, k.pk) for c, k in cells))} tracks to make "
            f"({generator} {job.model_id}, {duration:g} s, batch {job.batch_size}, seed {seed})"
        )
        bar = ProgressBar(self.stdout if options["verbosity"] >= 1 else _Null())
        eager = current_app.conf.task_always_eager
        if eager:
            job = jobs.job_run(job=job, progress=bar.update)
        else:
            job = jobs.job_start(job=job)
            if no_wait:
                self.stdout.write("enqueued; follow it in the admin (Generation jobs)")
                return
            try:
                while True:
                    p = jobs.job_progress(job=job)
                    bar.update(p)
                    if p["finished"]:
                        break
                    time.sleep(poll)
            except KeyboardInterrupt:
                bar.close()
                self.stdout.write("stopped watching; the workers go on with the job")
                return
        bar.update(jobs.job_progress(job=job))
        bar.close()
        self._report(job, study_obj)

    def _report(self, job: GenerationJob, study: Study) -> None:
        job.refresh_from_db()
        study.refresh_from_db()
        p = jobs.job_progress(job=job)
        if not study.is_locked:  # bind what exists, also tracks an earlier job or the admin made
            missing = services.study_bind_tracks(study=study)
            self.stdout.write(
                f"bound the tracks to the trials; {missing} trial tracks still missing"
            )
        if job.status == GenerationJob.Status.FAILED:
            raise CommandError(f"job {job.pk} failed: {job.error}")
        for e in p["errors"]:
            self.stderr.write(f"  {e['clip']} / {e['condition']}: {e['error']}")
        if p["failed"]:
            raise CommandError(
                f"{p['failed']} of {p['total']} tracks failed (listed above); {p['done']} were made"
            )
        self.stdout.write(self.style.SUCCESS(f"job {job.pk} done: {p['done']} tracks made"))


class _Null:
    def write(self, s: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
