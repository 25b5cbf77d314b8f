from django.db import migrations

from retention_crm.migration_ops import PostgresOnlyRunSQL

# The admin's search runs UPPER(col::text) LIKE UPPER('%term%'); these trigram indexes
# serve exactly that expression, so a search over a million customers reads the matches
# instead of the table.
FIELDS = ("name", "email", "external_id")


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_aggregate_state")]

    operations = [
        PostgresOnlyRunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        *[
            PostgresOnlyRunSQL(
                f"CREATE INDEX customer_{field}_trgm ON customers_customer "
                f"USING gin (UPPER({field}::text) gin_trgm_ops)",
                f"DROP INDEX customer_{field}_trgm",
            )
            for field in FIELDS
        ],
    ]
