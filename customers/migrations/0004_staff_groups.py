from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT = "Support agent"
MANAGER = "Support manager"

MODELS = ("customer", "order", "orderline", "product")
AGENT_PERMISSIONS = [f"view_{model}" for model in MODELS]
MANAGER_PERMISSIONS = [
    *(f"{action}_{model}" for model in MODELS for action in ("view", "add", "change", "delete")),
    "import_customer",
    "export_customer",
    "import_order",
    "export_order",
    "view_retention_metrics",
]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this app's now
    # so that the groups can hold them.
    app_config = apps.get_app_config("customers")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ((AGENT, AGENT_PERMISSIONS), (MANAGER, MANAGER_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="customers", codename__in=codenames)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[AGENT, MANAGER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_trigram_search_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
