"""python manage.py purge_identifying_data [--study SLUG] [--dry-run]

Blanks recruiter ids (PROLIFIC_PID, STUDY_ID, SESSION_ID), user agents and free-text answers of
every study whose retention date (Study.retention_until) has passed, or of one study now with
--study. The pseudonymised research data stays. Celery beat runs the same daily
(survey.purge_identifying_data) when a broker is configured.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from survey.management import study_by_slug
from survey.models import Study
from survey.privacy import purge_due, purge_identifying


class Command(BaseCommand):
    help = "Blank identifying fields of studies past their retention date (or of one study)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--study", metavar="SLUG", help="purge this study now, whatever its retention date"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only list the studies that are due"
        )

    def handle(self, *args, study: str | None = None, dry_run: bool = False, **options):
        if dry_run:
            from django.utils import timezone

            due = Study.objects.filter(retention_until__lt=timezone.localdate())
            targets = [study_by_slug(study)] if study else list(due.order_by("slug"))
            for s in targets:
                self.stdout.write(f"{s.slug}: retention until {s.retention_until or '-'}")
            if not targets:
                self.stdout.write("no study is past its retention date")
            return
        done = {study: purge_identifying(study=study_by_slug(study))} if study else purge_due()
        for slug, n in done.items():
            self.stdout.write(f"{slug}: identifying fields blanked for {n} participants")
        if not done:
            self.stdout.write("no study is past its retention date")
