"""The call worker: ends calls at their persisted deadline or when a suspension comes
into force, and frees their media.

Deadlines live in the database, so a restart of any process loses none of them:
the next pass of this loop ends what is overdue. Rooms of ended calls are claimed
with a conditional UPDATE so that two workers never destroy the same one twice.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.utils import timezone

from calls import actions
from calls.media import hub
from calls.models import Call

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25


def _claim_rooms_to_release() -> list[Call]:
    calls = []
    candidates = Call.objects.filter(
        state__in=Call.FINAL_STATES, janus_room__isnull=False, media_released_at__isnull=True
    ).values_list("pk", flat=True)[:50]
    for call_id in candidates:
        claimed = Call.objects.filter(pk=call_id, media_released_at__isnull=True).update(
            media_released_at=timezone.now()
        )
        if claimed:
            calls.append(Call.objects.select_related("media_node").get(pk=call_id))
    return calls


async def tick() -> None:
    ended = await database_sync_to_async(actions.end_overdue)()
    if ended:
        log.info("Ended overdue calls %s", ended)
    suspended = await database_sync_to_async(actions.end_suspended)()
    if suspended:
        log.info("Ended the calls of suspended detainees %s", suspended)
    for call in await database_sync_to_async(_claim_rooms_to_release)():
        await hub.release_room(call)


async def run(*, once: bool = False) -> None:
    while True:
        try:
            await tick()
        except Exception:
            # One bad pass must not stop deadline enforcement for every other call.
            log.exception("Call worker pass failed")
        if once:
            return
        await asyncio.sleep(TICK_SECONDS)
