"""The Researcher group, with exactly the permissions a researcher needs (``survey.access``)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Researcher"

# Frozen copy of survey.access.RESEARCHER_PERMISSIONS at this migration (a test checks that the
# group made by the migrations matches the code; a later change comes with its own migration).
PERMISSIONS = (
    "survey.add_study",
    "survey.change_study",
    "survey.view_study",
    "survey.add_form",
    "survey.change_form",
    "survey.delete_form",
    "survey.view_form",
    "survey.view_trial",
    "survey.view_participant",
    "survey.delete_participant",
    "survey.view_rating",
    "survey.delete_rating",
    "survey.view_annotation",
    "survey.view_metricresult",
    "generation.add_clip",
    "generation.change_clip",
    "generation.view_clip",
    "generation.add_caption",
    "generation.change_caption",
    "generation.view_caption",
    "generation.view_captionrevision",
    "generation.add_condition",
    "generation.view_condition",
    "generation.add_track",
    "generation.view_track",
    "generation.view_generationjob",
    "generation.view_captionjob",
)


def _ensure_permissions(apps):
    # On a fresh database the permissions are made after all migrations (post_migrate): make them
    # now for the two apps, from the historical models.
    for label in ("survey", "generation"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None


def make_group(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = []
    for name in PERMISSIONS:
        app_label, codename = name.split(".")
        wanted.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    group.permissions.set(wanted)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("generation", "0004_caption_pipeline"),
        ("survey", "0004_annotation"),
    ]

    operations = [migrations.RunPython(make_group, remove_group)]
