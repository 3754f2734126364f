"""Participant.simulated: the simulator's participants marked in a field that survives the purge
of recruiter ids; participants simulated before this migration are found by their markers."""

from django.db import migrations, models

# survey.simulation's markers at the time of this migration (a migration keeps its own copy).
SIMULATED_STUDY_ID = "simulated"
SIMULATED_USER_AGENT = "MusiScene Studio simulated participant"


def mark_simulated(apps, schema_editor):
    Participant = apps.get_model("survey", "Participant")
    Participant.objects.filter(
        external_study_id=SIMULATED_STUDY_ID, user_agent=SIMULATED_USER_AGENT
    ).update(simulated=True)


class Migration(migrations.Migration):
    dependencies = [
        ("survey", "0010_languages"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="simulated",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Created by the participant simulator (demo, pilots), not a person: "
                "exports and reports show it.",
            ),
        ),
        migrations.RunPython(mark_simulated, migrations.RunPython.noop),
    ]
