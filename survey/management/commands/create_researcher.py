"""python manage.py create_researcher USERNAME [--email E] [--study SLUG ...] [--password P]

A researcher account: a staff user in the Researcher group (not a superuser), listed on the
given studies, with an API token. Without --password the password is asked for twice (or, with
--no-input, left unset: set it later with ``manage.py changepassword``). Safe to run again: an
existing account keeps its password unless one is given, and gains the studies named.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from survey.models import Study
from survey.services import researcher_group_ensure


class Command(BaseCommand):
    help = (
        "Create (or update) a researcher account: staff, Researcher group, study access, API token."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="the researcher's e-mail address")
        parser.add_argument(
            "--study",
            action="append",
            default=[],
            metavar="SLUG",
            help="a study the researcher may see and change (repeat for several)",
        )
        parser.add_argument(
            "--password", help="the password (else asked for; prefer the prompt on shared hosts)"
        )
        parser.add_argument(
            "--no-input",
            action="store_true",
            help="never prompt: without --password the account has no password yet",
        )
        parser.add_argument("--no-token", action="store_true", help="do not make an API token")

    def handle(self, *args, username: str, email: str, study: list[str], **options):
        studies = []
        for slug in study:
            found = Study.objects.filter(slug=slug).first()
            if found is None:
                known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(f"no study {slug!r} (studies: {known or 'none yet'})")
            studies.append(found)
        group = researcher_group_ensure()
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None and user.is_superuser:
            raise CommandError(f"{username!r} is a superuser; a researcher account is not")
        password = options.get("password")
        if (
            password is None
            and not options["no_input"]
            and (user is None or not user.has_usable_password())
        ):
            password = self._prompt()
        candidate = user or User(username=username, email=email)
        if password is not None:
            try:
                password_validation.validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            created = user is None
            if user is None:
                user = User.objects.create_user(username, email=email, password=password)
            else:
                if email:
                    user.email = email
                if password is not None:
                    user.set_password(password)
            user.is_staff = True
            user.is_active = True
            user.save()
            user.groups.add(group)
            for s in studies:
                s.researchers.add(user)
            token = None if options["no_token"] else Token.objects.get_or_create(user=user)[0]
        self.stdout.write(f"{'Created' if created else 'Updated'} researcher {username}.")
        on = list(user.studies.order_by("slug").values_list("slug", flat=True))
        self.stdout.write(f"Studies: {', '.join(on) if on else 'none yet (add with --study SLUG)'}")
        if not user.has_usable_password():
            self.stdout.write(
                f"No password yet: set one with `python manage.py changepassword {username}`."
            )
        if token is not None:
            self.stdout.write(f"API token: {token.key}")
            self.stdout.write(
                f'  e.g. curl -H "Authorization: Token {token.key}" http://127.0.0.1:8000/api/studies/'
            )

    def _prompt(self) -> str:
        if not sys.stdin.isatty():
            raise CommandError("give --password, or --no-input to leave the password unset")
        while True:
            first = getpass.getpass("Password: ")
            if first and first == getpass.getpass("Password (again): "):
                return first
            self.stderr.write("The passwords are empty or differ; try again.")
