from datetime import timedelta

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT = "Support agent"
MANAGER = "Support manager"

# Answer within an hour; resolve by priority (urgent 4 h, high 1 day, normal 3 days,
# low 7 days). The default policy (normal) matches whatever no other policy does.
POLICIES = [
    # name, position, priority, resolve, follow up every, warn before, default
    ("Urgent", 10, "urgent", timedelta(hours=4), timedelta(hours=2), timedelta(minutes=30), False),
    ("High", 20, "high", timedelta(days=1), timedelta(hours=4), timedelta(hours=2), False),
    ("Low", 30, "low", timedelta(days=7), timedelta(days=1), timedelta(hours=8), False),
    ("Default", 1000, "", timedelta(days=3), timedelta(days=1), timedelta(hours=4), True),
]

FEEDBACK_MODELS = ("ticket", "reminder", "slapolicy", "businesscalendar", "businesshours", "holiday", "team", "cannedreply")
AGENT_PERMISSIONS = {
    "feedback": [
        "view_ticket",
        "add_ticket",
        "change_ticket",
        "view_reminder",
        "add_reminder",
        "change_reminder",
        *(f"view_{model}" for model in ("slapolicy", "businesscalendar", "businesshours", "holiday", "team", "cannedreply")),
    ],
    "customers": ["view_message", "add_message"],
}
MANAGER_PERMISSIONS = {
    "feedback": [
        *(f"{action}_{model}" for model in FEEDBACK_MODELS for action in ("view", "add", "change", "delete")),
        "view_service_metrics",
    ],
    "customers": ["view_message", "add_message", "change_message"],
}


def forwards(apps, schema_editor):
    for label in ("feedback", "customers"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    SlaPolicy = apps.get_model("feedback", "SlaPolicy")
    for name, position, priority, resolve, follow_up, warn, default in POLICIES:
        SlaPolicy.objects.get_or_create(
            name=name,
            defaults={
                "position": position,
                "priority": priority,
                "is_default": default,
                "answer_within": timedelta(hours=1),
                "resolve_within": resolve,
                "follow_up_every": follow_up,
                "warn_before": warn,
            },
        )

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in ((AGENT, AGENT_PERMISSIONS), (MANAGER, MANAGER_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codenames in by_app.items():
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


def backwards(apps, schema_editor):
    apps.get_model("feedback", "SlaPolicy").objects.filter(name__in=[policy[0] for policy in POLICIES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0001_initial"),
        ("customers", "0007_message_ticket_and_indexes"),
        ("customers", "0004_staff_groups"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
