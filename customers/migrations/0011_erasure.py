from django.contrib.auth.management import create_permissions
from django.db import migrations, models

MANAGER = "Support manager"


def managers_may_erase(apps, schema_editor):
    app_config = apps.get_app_config("customers")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=MANAGER)
    group.permissions.add(Permission.objects.get(content_type__app_label="customers", codename="erase_customer"))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0010_dates_from_1900"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="customer",
            options={
                "permissions": [
                    ("import_customer", "Can import customers"),
                    ("export_customer", "Can export customers"),
                    ("view_retention_metrics", "Can view retention metrics"),
                    ("erase_customer", "Can erase a customer's personal data"),
                ],
                "verbose_name": "customer",
                "verbose_name_plural": "customers",
            },
        ),
        migrations.AddField(
            model_name="customer",
            name="erased_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="personal data erased"),
        ),
        migrations.RunPython(managers_may_erase, migrations.RunPython.noop),
    ]
