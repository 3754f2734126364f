"""Simulated participants stay recognisable as not people: in the participants table, the report
and the command's notes, after the purge of recruiter ids, and in a database made before the flag
existed (the migration finds them by their old markers)."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from survey import privacy
from survey.models import Participant
from survey.simulation import simulate_participants

FAST = ["--n-boot", "200"]


def test_the_report_and_the_bundle_mark_simulated_participants(three_way_study, tmp_path, capsys):
    simulate_participants(three_way_study, 6, seed=4, careless=0.0)
    person = Participant.objects.filter(study=three_way_study).order_by("id").first()
    Participant.objects.filter(pk=person.pk).update(simulated=False)  # stands in for a person
    out, bundle = tmp_path / "r.html", tmp_path / "tables.zip"
    call_command(
        "analysis_report", "--study", "three-way", "--out", str(out), "--bundle", str(bundle), *FAST
    )
    assert "note: 5 participants with ratings are simulated" in capsys.readouterr().err
    assert "5 of the 6 participants with ratings are simulated" in out.read_text()
    with zipfile.ZipFile(bundle) as zf:
        people = pd.read_csv(zf.open("participants.csv"))
    assert people["simulated"].sum() == 5
    assert not people.loc[people["participant"] == person.public_id, "simulated"].item()


def test_the_flag_survives_the_purge_of_recruiter_ids(three_way_study):
    simulate_participants(three_way_study, 2, seed=1, careless=0.0)
    privacy.purge_identifying(study=three_way_study)
    left = Participant.objects.filter(study=three_way_study)
    assert {p.external_study_id for p in left} == {""} and all(p.simulated for p in left)


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)  # migration data: tests/conftest.py restores it
def test_participants_simulated_before_the_flag_are_marked_by_the_migration():
    try:
        old = _migrate(("survey", "0010_languages"))
        study = old.get_model("survey", "Study").objects.create(title="Old", slug="old")
        make = old.get_model("survey", "Participant").objects.create
        sim = make(
            study=study,
            code="SIMOLD1",
            external_study_id="simulated",
            user_agent="MusiScene Studio simulated participant",
        )
        real = make(
            study=study, code="REALOLD", external_study_id="simulated", user_agent="Mozilla"
        )
        new = _migrate(("survey", "0011_participant_simulated"))
        marked = dict(new.get_model("survey", "Participant").objects.values_list("pk", "simulated"))
        assert marked == {sim.pk: True, real.pk: False}
    finally:
        call_command("migrate", verbosity=0)  # the rest of the suite expects the latest schema
