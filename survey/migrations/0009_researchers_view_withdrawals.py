"""The Researcher group may read the withdrawal records of its studies (``survey.access``)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def researchers_view_withdrawals(apps, schema_editor):
    config = apps.get_app_config("survey")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perm = Permission.objects.get(content_type__app_label="survey", codename="view_withdrawal")
    for group in Group.objects.filter(name="Researcher"):
        group.permissions.add(perm)


def forget(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perm = Permission.objects.filter(
        content_type__app_label="survey", codename="view_withdrawal"
    ).first()
    if perm is not None:
        for group in Group.objects.filter(name="Researcher"):
            group.permissions.remove(perm)


class Migration(migrations.Migration):
    dependencies = [("survey", "0008_metricresult_to_analysis")]

    operations = [migrations.RunPython(researchers_view_withdrawals, forget)]
