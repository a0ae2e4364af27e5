"""Workers inside the web process, for single-process installations.

Without Redis the channel layer is in-memory: an event sent by a separate worker
process would never reach the browsers. So when ``REDIS_URL`` is unset (the embedded
default) the call worker and the media health checker run as tasks on the web
server's own event loop, and their events reach the consumers directly. With Redis,
they run as separate processes (`manage.py calls_worker`, `manage.py media_health`)
and this module does nothing.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()


def enabled() -> bool:
    return settings.IN_PROCESS_WORKERS


async def _media_health() -> None:
    from django.conf import settings

    from media import health

    # The probes wait on this loop; the database work goes to the sync thread, whose
    # node_down hooks send events that asgiref routes back here.
    watcher = health.Watcher(
        interval=health.INTERVAL,
        timeout=health.PROBE_TIMEOUT,
        down_after=settings.MEDIA_DOWN_AFTER_SECONDS,
    )
    while True:
        try:
            await watcher.run()
        except Exception:
            log.exception("In-process media health checker failed; starting again")
        await asyncio.sleep(1)


def ensure_started() -> None:
    """Start the workers on the running loop, once per loop."""
    global _loop
    if not enabled():
        return
    loop = asyncio.get_running_loop()
    if _loop is loop:
        return
    _loop = loop
    from calls import worker
    from notify import worker as notify_worker
    from ops import rollup
    from recordings import worker as recordings_worker

    for coro in (
        worker.run(),
        _media_health(),
        notify_worker.run(),
        recordings_worker.run_async(),
        rollup.run_async(),
    ):
        task = loop.create_task(coro)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    log.info("In-process workers started (no REDIS_URL)")


class StartWorkers:
    """ASGI middleware: the first request or socket starts the in-process workers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            ensure_started()
        return await self.app(scope, receive, send)
