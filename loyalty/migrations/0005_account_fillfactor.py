"""Room on each page of loyalty_account for updated rows (PostgreSQL).

Every earning order, redemption and sweep updates an account's balance. With full pages
(the default fillfactor of 100) each update writes the new row version to another page
and a new entry into each of the table's four indexes; with room left on the page, and
no indexed column changed, PostgreSQL writes a heap-only tuple and no index entry. On
the benchmark database this made the balance updates of an import batch of 50,000
orders about eight times cheaper (bench/README.md, issue #5).

The setting applies to pages written from now on: a new installation has it from the
start; an existing table gets it when rewritten (docs/deployment.md).
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE loyalty_account SET (fillfactor = 80)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE loyalty_account RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0004_ledger_days")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
