"""The recordings worker: makes recordings of finished calls, and destroys them in time.

One pass (``tick``): create the jobs of calls whose room is gone, process the jobs that
are ready (one after the other: each already uses both cores), finish deletions a crash
interrupted, and once a minute destroy what its retention allows and remove expired
export packages. Several workers may run at once: every step claims its rows with a
conditional UPDATE or a row lock.
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from ops import metrics as ops_metrics
from recordings import crypto, export, jobs, retention

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
RETENTION_EVERY_SECONDS = 60.0
MAX_JOBS_PER_PASS = 20

_last_retention = 0.0
_warned_no_key = False


def tick(*, retention_now: bool = False) -> dict[str, int]:
    global _last_retention, _warned_no_key
    counts = {"enqueued": len(jobs.enqueue()), "processed": 0}
    try:
        crypto.keyring()
    except crypto.CryptoError as exc:
        # Without a key nothing can be sealed: leave the Janus files where they are.
        if not _warned_no_key:
            log.error("Recordings are not processed: %s", exc)
            _warned_no_key = True
    else:
        _warned_no_key = False
        while counts["processed"] < MAX_JOBS_PER_PASS and (job := jobs.claim()) is not None:
            recording = jobs.process(job)
            log.info("Recording %s of call %s: %s", job.pk, recording.call_id, recording.state)
            counts["processed"] += 1
    counts["sources_deleted"] = jobs.cleanup_sources()
    if retention_now or time.monotonic() - _last_retention >= RETENTION_EVERY_SECONDS:
        _last_retention = time.monotonic()
        counts["destroyed"] = len(retention.purge(execute=True).destroyed)
        counts["swept"] = retention.sweep_destroyed()
        counts["exports_removed"] = export.remove_expired()
    return counts


def _guarded_tick(**kwargs) -> dict[str, int]:
    close_old_connections()
    try:
        done = tick(**kwargs)
        ops_metrics.worker_pass("recordings")
        return done
    except Exception:
        # One bad pass (a database blip) must not stop recordings for good.
        log.exception("Recordings worker pass failed")
        ops_metrics.worker_pass("recordings", ok=False)
        return {}
    finally:
        close_old_connections()


def run(*, once: bool = False) -> None:
    while True:
        _guarded_tick(retention_now=once)
        if once:
            return
        time.sleep(POLL_SECONDS)


async def run_async() -> None:
    """The same loop inside the web process (parloir/background.py). Passes run in a
    thread of their own: processing takes seconds and must not hold the event loop, nor
    the thread the web requests' ORM calls share."""
    while True:
        await sync_to_async(_guarded_tick, thread_sensitive=False)()
        await asyncio.sleep(POLL_SECONDS)
