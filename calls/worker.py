"""The call worker: ends calls at their persisted deadline or when a suspension comes
into force, and frees their media.

Deadlines live in the database, so a restart of any process loses none of them:
the next pass of this loop ends what is overdue. Rooms no call uses any more (the
call ended, or its media moved to another room) are destroyed; two workers doing it
at once is harmless (the second hears "no such room").
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from calls import actions
from calls.media import hub
from calls.models import Call, CallRoom
from media.models import MediaNode
from ops import metrics as ops_metrics

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25


def _rooms_to_release() -> list[CallRoom]:
    """Rooms no call uses any more (the call ended, or its media moved) that may still
    exist in their Janus."""
    return list(
        CallRoom.objects.filter(closed_at__isnull=False, released_at__isnull=True)
        .select_related("node")
        .order_by("closed_at")[:50]
    )


def _gone_with_its_node(room: CallRoom, now) -> bool:
    """A node down this long will have lost its rooms when it comes back (Janus keeps
    none across a restart): its files are as complete as they will ever be."""
    node = room.node
    if node.state != MediaNode.State.DOWN:
        return False
    silent_since = node.last_seen_at or room.closed_at
    return silent_since + timedelta(seconds=settings.MEDIA_ROOM_GIVE_UP_SECONDS) <= now


def _mark_released(room_ids: list[int], now) -> None:
    CallRoom.objects.filter(pk__in=room_ids, released_at__isnull=True).update(released_at=now)


def _finish_released_calls(now) -> None:
    """A finished call whose every room is released has complete recording files."""
    done = (
        Call.objects.filter(
            state__in=Call.FINAL_STATES, media_released_at__isnull=True, rooms__isnull=False
        )
        .exclude(rooms__released_at__isnull=True)
        .values_list("pk", flat=True)
    )
    Call.objects.filter(pk__in=list(done), media_released_at__isnull=True).update(
        media_released_at=now
    )


# Deadlines are checked every tick; the rest (suspensions coming into force, rooms to
# destroy) every few ticks: they can wait a second, and every worker on every web host
# asks the database each time.
SLOWER_EVERY = 4
_ticks = 0


async def tick() -> None:
    global _ticks
    ended = await database_sync_to_async(actions.end_overdue)()
    if ended:
        log.info("Ended overdue calls %s", ended)
    _ticks += 1
    if _ticks % SLOWER_EVERY != 1:
        return
    suspended = await database_sync_to_async(actions.end_suspended)()
    if suspended:
        log.info("Ended the calls of suspended detainees %s", suspended)
    released = []
    now = timezone.now()
    for room in await database_sync_to_async(_rooms_to_release)():
        if _gone_with_its_node(room, now):
            released.append(room.pk)
        elif room.node.state != MediaNode.State.DOWN and await hub.release_room(room):
            released.append(room.pk)
    if released:
        await database_sync_to_async(_mark_released)(released, timezone.now())
    await database_sync_to_async(_finish_released_calls)(timezone.now())


async def run(*, once: bool = False) -> None:
    while True:
        try:
            await tick()
            ops_metrics.worker_pass("calls")
        except Exception:
            # One bad pass must not stop deadline enforcement for every other call.
            log.exception("Call worker pass failed")
            ops_metrics.worker_pass("calls", ok=False)
        if once:
            return
        await asyncio.sleep(TICK_SECONDS)
