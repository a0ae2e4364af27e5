"""Django's PostgreSQL backend, but for the check its pool makes of each connection it
hands out (parloir/db.py: check_pooled_connection)."""

from django.db.backends.postgresql import base

from parloir.db import check_pooled_connection


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django gives its pool psycopg_pool's check (an empty query for every
        # connection handed out) when CONN_HEALTH_CHECKS is on, and no way to pass another.
        if pool is not None and pool._check is not None:
            pool._check = check_pooled_connection
        return pool
