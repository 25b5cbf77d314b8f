from django.db import migrations

from retention_crm.migration_ops import grant

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


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("loyalty", "0004_ledger_days"),
        ("feedback", "0006_gold_complaints_policy"),
    ]

    operations = [
        migrations.RunPython(grant("insights", {"Support agent": AGENT, "Support manager": MANAGER}), migrations.RunPython.noop)
    ]
