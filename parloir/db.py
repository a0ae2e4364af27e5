"""How parloir's processes check their pooled database connections (docs/performance.md):
without a round trip to the server when nothing says a connection is dead."""

from __future__ import annotations

import select

import psycopg


def check_pooled_connection(connection) -> None:
    """Raise if ``connection`` cannot be used; called by the pool before handing it out.

    psycopg_pool's own check sends an empty query each time: one more round trip (and a
    wake-up of a PostgreSQL backend) for every database call of the consumers and workers,
    which take a connection from the pool for each. A connection the server ended (a
    restart, an administrator's pg_terminate_backend, an idle timeout) has its socket
    readable: the server's last message, or the end of the stream. A live connection at
    rest has nothing to read, so only a readable one is asked (and dropped if it fails).
    """
    if connection.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _w, _x = select.select([connection.fileno()], [], [], 0)
    if readable:
        from psycopg_pool import ConnectionPool

        ConnectionPool.check_connection(connection)
