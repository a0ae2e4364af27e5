"""The database itself refuses to change the purge log.

PostgreSQL refuses UPDATE and DELETE; SQLite refuses UPDATE only, because Django's test
flush empties tables with DELETE there (PostgreSQL's flush uses TRUNCATE, which row
triggers do not see). SQLite drops triggers when a table is rebuilt: a later migration
that rebuilds this table must create the trigger again.
"""

from django.db import migrations

TABLE = "privacy_purgelog"

PG_FORWARD = f"""
CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{TABLE} is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only();
"""
PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};
DROP FUNCTION IF EXISTS {TABLE}_append_only();
"""
SQLITE_FORWARD = f"""
CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
BEGIN
    SELECT RAISE(ABORT, '{TABLE} is append-only');
END;
"""
SQLITE_BACKWARD = f"DROP TRIGGER IF EXISTS {TABLE}_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
