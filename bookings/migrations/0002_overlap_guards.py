"""No double booking, enforced by the database itself (see bookings/db.py).

PostgreSQL: btree_gist exclusion constraints. SQLite: triggers. One migration,
branching on the engine, so the same history runs on both.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    from bookings.db import install_overlap_guards

    install_overlap_guards(schema_editor.connection)


def backwards(apps, schema_editor):
    from bookings.db import remove_overlap_guards

    remove_overlap_guards(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
