"""MetricResult moved from the survey app to analysis without losing a row: the table stays
``survey_metricresult``, rows stored before the move are read through ``analysis.MetricResult``,
and the Researcher group keeps its permission to view them. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("survey", "0007_data_deletion")]
AFTER = [("survey", "0008_metricresult_to_analysis"), ("analysis", "0001_initial")]


def _migrate(targets, *, unapply=()):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([*targets, *((app, None) for app in unapply)])
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)  # migration data: tests/conftest.py restores it
def test_it_keeps_rows_and_permissions_across_the_move_and_back():
    try:
        old = _migrate(BEFORE, unapply=["analysis"])
        assert "survey_metricresult" in connection.introspection.table_names()
        Study = old.get_model("survey", "Study")
        study = Study.objects.create(title="Before", slug="before")
        run = uuid.uuid4()
        old.get_model("survey", "MetricResult").objects.create(
            run=run,
            study=study,
            kind="audio",
            metric="fad",
            variant="vggish",
            reference="o",
            scope="condition",
            value=1.5,
            n=60,
            n_unit="frames",
        )

        new = _migrate(AFTER)
        moved = new.get_model("analysis", "MetricResult").objects.get(run=run)
        assert (moved.metric, moved.value, moved.study_id) == ("fad", 1.5, study.pk)
        group = new.get_model("auth", "Group").objects.get(name="Researcher")
        perms = {
            (p.content_type.app_label, p.codename)
            for p in group.permissions.select_related("content_type")
        }
        assert ("analysis", "view_metricresult") in perms
        assert ("survey", "view_metricresult") not in perms

        back = _migrate(BEFORE, unapply=["analysis"])
        assert back.get_model("survey", "MetricResult").objects.get(run=run).value == 1.5
    finally:
        call_command("migrate", verbosity=0)  # the rest of the suite expects the latest schema


@pytest.mark.django_db
def test_the_model_reads_the_survey_table():
    from analysis.models import MetricResult

    assert MetricResult._meta.db_table == "survey_metricresult"
    assert MetricResult._meta.app_label == "analysis"
