"""Service and loyalty meet: normal-priority complaints from the top tier are answered
within half an hour and resolved within a day instead of three (urgent and high
complaints keep their own, shorter policies; managers change all of it in the admin)."""

from datetime import timedelta

from django.db import migrations


def forwards(apps, schema_editor):
    Tier = apps.get_model("loyalty", "Tier")
    SlaPolicy = apps.get_model("feedback", "SlaPolicy")
    top = Tier.objects.order_by("-rank").first()
    if top is None:
        return
    SlaPolicy.objects.get_or_create(
        name="Top-tier complaints",
        defaults={"position": 0, "kind": "complaint", "priority": "normal", "tier": top,
                  "answer_within": timedelta(minutes=30), "resolve_within": timedelta(days=1),
                  "follow_up_every": timedelta(hours=12), "warn_before": timedelta(hours=1)},
    )


def backwards(apps, schema_editor):
    apps.get_model("feedback", "SlaPolicy").objects.filter(name="Top-tier complaints").delete()


class Migration(migrations.Migration):
    dependencies = [("feedback", "0005_sla_policy_tier"), ("loyalty", "0002_standard_program_and_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
