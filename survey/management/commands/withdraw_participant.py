"""python manage.py withdraw_participant --study SLUG (--participant P000012 | --prolific-pid PID)
--requested-by participant|researcher|recruiter [--reason TEXT]

Deletes the participant and everything derived from their answers (ratings, trial responses,
checks, page visits, descriptions and their captions) and records that a withdrawal happened
(survey.models.Withdrawal: public id, when, by whom, what was deleted).
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from survey.management import study_by_slug
from survey.models import Participant
from survey.privacy import participant_withdraw


class Command(BaseCommand):
    help = "Withdraw a participant: delete their data and everything derived, keep a record."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--participant", metavar="PUBLIC_ID", help="e.g. P000012")
        who.add_argument("--prolific-pid", metavar="PID", help="the recruiter's id")
        parser.add_argument(
            "--requested-by",
            required=True,
            choices=["participant", "researcher", "recruiter"],
            help="who asked for the withdrawal",
        )
        parser.add_argument("--reason", default="", help="a note kept with the record")

    def handle(self, *args, study, participant, prolific_pid, requested_by, reason, **options):
        the_study = study_by_slug(study)
        people = Participant.objects.filter(study=the_study)
        if participant:
            digits = participant.upper().removeprefix("P")
            if not digits.isdigit():
                raise CommandError(f"{participant!r} is not a public id such as P000012")
            found = people.filter(pk=int(digits)).first()
        else:
            found = people.filter(prolific_pid=prolific_pid).first()
        if found is None:
            raise CommandError(
                "no such participant in this study (after the retention purge, recruiter ids "
                "are gone: use the public id)"
            )
        record = participant_withdraw(
            participant=found, requested_by=requested_by, done_by=getpass.getuser(), reason=reason
        )
        parts = ", ".join(f"{v} {k}" for k, v in record.deleted.items() if v)
        self.stdout.write(
            f"{record.public_id} withdrawn from {the_study.slug}: {parts or 'no data'}"
        )
