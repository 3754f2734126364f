"""python manage.py demo [--no-serve] [--clips 24] [--port 8000] [--simulate-participants N]

Seeds the demo with no model weights and no network: synthetic clips with written captions, a
sketch track for every clip x condition, the paper's study (slug musiscene-demo, both forms, live)
and an admin user; prints the links; then serves on 127.0.0.1. Safe to run again.
``--simulate-participants N`` adds N simulated participants who take the live study (each run
adds N more), so that ``analysis_report`` has a full report to show at once.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from generation.demo import demo_clips_ensure, demo_tracks_ensure
from generation.services import conditions_ensure_paper
from survey import services
from survey.models import Study

DEMO_SLUG = "musiscene-demo"
DEMO_SEED = 20240101


def _port(asked: int | None, *, serving: bool) -> int:
    """The port to serve on or to name in links. The serving demo writes it to var/demo-port,
    so that a second terminal's ``--no-serve`` run prints links that reach it."""
    path = settings.VAR_DIR / "demo-port"
    port = asked or (int(os.environ["PORT"]) if os.environ.get("PORT") else None)
    if port is None and not serving and path.exists():
        port = int(path.read_text().strip() or 8000)
    port = port or 8000
    if serving:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{port}\n")
    return port


def _admin_password() -> str:
    """A random password kept in var/ so that every run prints the same working credentials."""
    path = settings.VAR_DIR / "demo-admin-password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password)
    return password


class Command(BaseCommand):
    help = (
        "Seed the demo study (synthetic clips, sketch tracks, the paper's two forms) and serve it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="only seed")
        parser.add_argument(
            "--clips", type=int, default=24, help="number of synthetic clips (default 24)"
        )
        parser.add_argument(
            "--duration", type=float, default=10.0, help="clip length in seconds (default 10)"
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="port to serve on (default: $PORT, else 8000); with --no-serve, the port the "
            "links name (default: $PORT, else the port the demo server last ran on)",
        )
        parser.add_argument(
            "--seed", type=int, default=DEMO_SEED, help="seed of the trial sampling"
        )
        parser.add_argument(
            "--simulate-participants",
            type=int,
            default=0,
            metavar="N",
            help="add N simulated participants who take the study (default 0)",
        )

    def handle(
        self,
        *args,
        no_serve: bool,
        clips: int,
        duration: float,
        port: int | None,
        seed: int,
        **options,
    ):
        if clips < 2:
            raise CommandError("--clips must be at least 2")
        n_sim = options.get("simulate_participants") or 0
        if n_sim < 0:
            raise CommandError("--simulate-participants must be 0 or more")
        say = (lambda msg: self.stdout.write(msg)) if options["verbosity"] >= 1 else None
        study = Study.objects.filter(slug=DEMO_SLUG).first()
        target = study.loudness_target_lufs if study else settings.DEFAULT_LOUDNESS_LUFS
        clip_objs = demo_clips_ensure(n_clips=clips, duration_s=duration, progress=say)
        conditions = conditions_ensure_paper()
        made = demo_tracks_ensure(
            clips=clip_objs, conditions=conditions, loudness_target_lufs=target, progress=say
        )
        self.stdout.write(f"{len(clip_objs)} clips, {made} new sketch tracks")

        User = get_user_model()
        password = _admin_password()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@localhost"}
        )
        if created or not admin.check_password(password):
            admin.is_staff = admin.is_superuser = True
            admin.set_password(password)
            admin.save()

        with transaction.atomic():
            study, created = Study.objects.get_or_create(
                slug=DEMO_SLUG,
                defaults={
                    "title": "MusiScene demo: which music suits the video?",
                    "loudness_target_lufs": target,
                },
            )
            study.researchers.add(admin)
            if study.status == Study.Status.DRAFT:
                if not study.forms.exists():
                    services.study_add_paper_forms(
                        study=study, seed=seed, max_videos=len(clip_objs)
                    )
                else:
                    services.study_bind_tracks(study=study)
                services.study_go_live(study=study)

        if n_sim:
            from survey.simulation import SimulationError, simulate_participants

            try:
                # a seed per batch: each run adds different people
                summary = simulate_participants(study, n_sim, seed=study.participants.count())
            except SimulationError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(str(summary))
            self.stdout.write(
                f"  report: python manage.py analysis_report --study {DEMO_SLUG} --out report.html"
            )

        port = _port(port, serving=not no_serve)
        site = f"http://127.0.0.1:{port}"
        if no_serve:
            # Nothing is serving: say so, and how to serve, instead of links that answer nothing.
            self.stdout.write(self.style.SUCCESS("The demo data is ready (--no-serve: no server)."))
            self.stdout.write(
                f"  Serve it with `PORT={port} make demo` (or `python manage.py runserver "
                f"127.0.0.1:{port}`)"
                " unless it already runs, then open:"
            )
        else:
            self.stdout.write(self.style.SUCCESS("The demo is ready."))
        self.stdout.write(f"  participant link: {site}/s/{DEMO_SLUG}/")
        self.stdout.write(f"  admin:            {site}/admin/  (user: admin, password: {password})")
        self.stdout.write(f"  researcher API:   {site}/api/studies/  (schema: {site}/api/schema/)")
        if not no_serve:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
