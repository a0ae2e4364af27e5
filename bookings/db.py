"""The database's own guarantee against double booking, on PostgreSQL and on SQLite.

Two active (not cancelled) bookings may not overlap in time for one room, nor for
one detainee. PostgreSQL enforces it with exclusion constraints; SQLite, which has
none, with triggers that abort the write.

SQLite drops a table's triggers when Django rebuilds the table (many ALTERs do), so
``install_overlap_guards`` is idempotent and also runs after every ``migrate``
(bookings.apps): a later migration of bookings_booking cannot silently lose them.
"""

TABLE = "bookings_booking"
ACTIVE = "status <> 'cancelled'"
ROOM_OVERLAP = "booking_room_overlap"
DETAINEE_OVERLAP = "booking_detainee_overlap"

_PG_CONSTRAINT = """
ALTER TABLE {table} ADD CONSTRAINT {name} EXCLUDE USING gist (
    {column} WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE ({active})
"""

# Datetimes are stored by Django on SQLite as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC,
# which sorts as text in time order: plain comparisons find overlaps.
_SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {name}_{event_lower} BEFORE {event} ON {table}
WHEN NEW.status <> 'cancelled'
BEGIN
    SELECT RAISE(ABORT, '{name}') WHERE EXISTS (
        SELECT 1 FROM {table} AS other
        WHERE other.{column} = NEW.{column}
          AND other.status <> 'cancelled'
          AND other.starts_at < NEW.ends_at
          AND other.ends_at > NEW.starts_at
          {not_self}
    );
END
"""

GUARDS = ((ROOM_OVERLAP, "room_id"), (DETAINEE_OVERLAP, "detainee_id"))


def _table_exists(connection) -> bool:
    with connection.cursor() as cursor:
        return TABLE in connection.introspection.table_names(cursor)


def install_overlap_guards(connection) -> None:
    vendor = connection.vendor
    if not _table_exists(connection):
        return
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
            for name, column in GUARDS:
                cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s", [name])
                if cursor.fetchone() is None:
                    cursor.execute(
                        _PG_CONSTRAINT.format(table=TABLE, name=name, column=column, active=ACTIVE)
                    )
        elif vendor == "sqlite":
            for name, column in GUARDS:
                for event, not_self in (("INSERT", ""), ("UPDATE", "AND other.id <> NEW.id")):
                    cursor.execute(
                        _SQLITE_TRIGGER.format(
                            table=TABLE,
                            name=name,
                            column=column,
                            event=event,
                            event_lower=event.lower(),
                            not_self=not_self,
                        )
                    )
        else:
            raise NotImplementedError(
                f"No double-booking guard for {vendor}: bookings needs PostgreSQL or SQLite"
            )


def remove_overlap_guards(connection) -> None:
    with connection.cursor() as cursor:
        for name, _column in GUARDS:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {name}")
            elif connection.vendor == "sqlite":
                for event in ("insert", "update"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")


def overlap_guard_name(error: Exception) -> str | None:
    """Which guard refused a write, read from the database's error; None if neither."""
    text = str(error)
    for name, _column in GUARDS:
        if name in text:
            return name
    return None
