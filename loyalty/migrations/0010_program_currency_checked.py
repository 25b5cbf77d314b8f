import django.core.validators
from django.db import migrations, models
from django.db.models.functions import Upper

import customers.models


def currency_in_upper_case(apps, schema_editor):
    # Rules saved with "eur" matched no order (their codes are upper case): fix them.
    apps.get_model("loyalty", "Program").objects.update(currency=Upper("currency"))


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0009_limits"),
    ]

    operations = [
        migrations.AlterField(
            model_name="program",
            name="currency",
            field=models.CharField(
                default=customers.models.default_currency,
                help_text="Orders in another currency earn no points.",
                max_length=3,
                validators=[
                    django.core.validators.RegexValidator("^[A-Z]{3}$", "Use a three-letter ISO 4217 code such as EUR.")
                ],
                verbose_name="currency",
            ),
        ),
        migrations.RunPython(currency_in_upper_case, migrations.RunPython.noop),
    ]
