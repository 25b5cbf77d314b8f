"""Migration operations shared by the apps."""

from django.db import migrations


class PostgresOnlyRunSQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases.

    For what only PostgreSQL has (trigram indexes for the admin search); the embedded
    SQLite default of `make run` does without.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def grant(app_label: str, permissions: dict[str, list[str]]):
    """A RunPython function giving staff groups ({group name: codenames}) permissions of
    `app_label`'s models. Django creates permissions after all migrations ran; this
    creates the app's own first, so that the groups can hold them."""

    def forwards(apps, schema_editor):
        from django.contrib.auth.management import create_permissions

        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for name, codenames in permissions.items():
            group, _created = Group.objects.get_or_create(name=name)
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))

    return forwards
