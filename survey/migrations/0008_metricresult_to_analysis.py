"""MetricResult now belongs to the analysis app (analysis/migrations/0001_initial.py): it leaves
the survey's state only; its table and rows stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0001_initial"),
        ("survey", "0007_data_deletion"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="MetricResult")],
            database_operations=[],
        ),
    ]
