"""How parloir's processes use their database connections (see docs/performance.md).

- ``check_pooled_connection``: the check a pooled PostgreSQL connection passes as it leaves
  the pool, without a round trip to the server when nothing says it is dead.
- ``database_sync_to_async``: Channels' helper (a database call from async code, its
  connection given back after it), run on a few threads of the process instead of the
  one thread every "thread sensitive" call of a process shares.
"""

from __future__ import annotations

import select
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings


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
        raise connection.OperationalError("the connection is closed")
    readable, _w, _x = select.select([connection.fileno()], [], [], 0)
    if readable:
        from psycopg_pool import ConnectionPool

        ConnectionPool.check_connection(connection)


class _Executor:
    """The threads the consumers' and the media hub's database calls run on, made on first
    use (a process that never serves a socket makes none)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    def get(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=settings.DB_ASYNC_THREADS, thread_name_prefix="db-async"
            )
        return self._executor


_executor = _Executor()


def database_sync_to_async(func):
    """Channels' ``database_sync_to_async``, on DB_ASYNC_THREADS threads.

    By default every such call of a process waits for the single thread Channels shares
    between all of them: with twenty calls saying hello at once, each of their dozen
    database calls queued behind the others', and behind every round trip to PostgreSQL
    they made. Each call here is whole on its own (it takes a connection and gives it
    back, its transaction inside), so nothing ties it to one thread. Calls of one socket
    still run one after the other: its coroutine awaits each.
    """
    # Imported here: the settings import this module (for the pool's check).
    from channels.db import DatabaseSyncToAsync

    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor.get())


def close_thread_connections() -> None:
    """Close the database connections of every database_sync_to_async thread (a test run
    dropping its database): one task per thread, held at a barrier so that each lands on
    a thread of its own."""
    from django.db import connections

    executor = _executor._executor
    if executor is None:
        return
    count = settings.DB_ASYNC_THREADS
    barrier = threading.Barrier(count)

    def close() -> None:
        try:
            barrier.wait(5)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for future in [executor.submit(close) for _ in range(count)]:
        future.result(10)
