from django.contrib.auth.management import create_permissions
from django.db import migrations

# Agents work the at-risk queue and use segments and campaigns; managers also define
# them and see the dashboard's retention, revenue and points figures.
AGENT = [
    "view_customerscore",
    "view_outreach",
    "add_outreach",
    "change_outreach",
    "view_segment",
    "view_winbackcampaign",
    "view_winbackrecipient",
]
MANAGER = [
    *AGENT,
    "delete_outreach",
    "view_dashboard",
    "add_segment",
    "change_segment",
    "delete_segment",
    "add_winbackcampaign",
    "change_winbackcampaign",
    "delete_winbackcampaign",
]


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
    dependencies = [
        ("insights", "0001_initial"),
        ("loyalty", "0004_entry_created_index"),
        ("feedback", "0006_gold_complaints_policy"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
