from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT = ["view_segment"]
MANAGER = ["view_segment", "add_segment", "change_segment", "delete_segment"]


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("insights")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Support agent", AGENT), ("Support manager", MANAGER)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="insights", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_segments")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
