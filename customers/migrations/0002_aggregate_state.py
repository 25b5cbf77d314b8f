from django.conf import settings
from django.db import migrations


def create_state(apps, schema_editor):
    # The database is empty at this point, so aggregates built for today's settings are
    # exact: zero everywhere. From here on every order change keeps them so.
    AggregateState = apps.get_model("customers", "AggregateState")
    AggregateState.objects.get_or_create(
        id=1, defaults={"window_days": settings.RETENTION_WINDOW_DAYS, "time_zone": settings.TIME_ZONE}
    )


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(create_state, migrations.RunPython.noop)]
