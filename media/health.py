"""Media node health: ping every node's admin API each second, keep ``state`` true.

A node goes ``down`` when it has not answered for ``down_after`` seconds (3 by
default): with probes each second and a 1 s probe timeout, a dead node is marked
within 5 s. It goes back ``up`` (or ``draining``, if an operator asked) on its
first answer. Each transition is one conditional UPDATE, so two checkers (or a
checker and an operator) never undo each other's work, and ``hooks.node_down``
runs once per transition, in the checker whose UPDATE won.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from media import hooks
from media.checks import require
from media.janus import VIDEOROOM, JanusAdmin, JanusException
from media.models import MediaNode

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0
INTERVAL = 1.0


@dataclass(frozen=True)
class Probe:
    ok: bool
    error: str = ""
    rooms: int | None = None


async def probe(
    admin_ws_url: str, *, admin_secret: str, room_admin_key: str | None, timeout: float
) -> Probe:
    """Ask one node's admin API whether it lives, and how many rooms it carries."""

    async def ask() -> Probe:
        async with JanusAdmin(
            admin_ws_url, admin_secret, request_timeout=timeout, connect_timeout=timeout
        ) as admin:
            await admin.ping()
            if not room_admin_key:
                return Probe(True)
            rooms = await admin.message_plugin(
                VIDEOROOM, {"request": "list", "admin_key": room_admin_key}
            )
            return Probe(True, rooms=len(rooms.get("list") or []))

    try:
        return await asyncio.wait_for(ask(), timeout)
    except TimeoutError:
        return Probe(False, f"no answer within {timeout} s")
    except JanusException as exc:
        return Probe(False, str(exc))


async def _probe_all(nodes: list[MediaNode], timeout: float) -> list[Probe]:
    admin_secret = require("JANUS_ADMIN_SECRET")
    room_admin_key = settings.JANUS_ROOM_ADMIN_KEY
    # Concurrently: one hanging node must not delay the verdict on the others.
    return await asyncio.gather(
        *(
            probe(
                node.admin_ws_url,
                admin_secret=admin_secret,
                room_admin_key=room_admin_key,
                timeout=timeout,
            )
            for node in nodes
        )
    )


def record(node: MediaNode, result: Probe, *, now: datetime, down_after: float) -> str | None:
    """Store a probe's result; return the node's new state if it changed."""
    nodes = MediaNode.objects.filter(pk=node.pk)
    if result.ok:
        fields: dict[str, object] = {"last_seen_at": now, "last_error": ""}
        if result.rooms is not None:
            fields["load"] = result.rooms
        nodes.update(**fields)
        revived = nodes.filter(state=MediaNode.State.DOWN).update(
            state=Case(
                When(drain_requested=True, then=Value(MediaNode.State.DRAINING)),
                default=Value(MediaNode.State.UP),
            )
        )
        if not revived:
            return None
        node.refresh_from_db()
        log.warning("Media node %s answers again: %s", node.name, node.state)
        if node.state == MediaNode.State.UP:
            hooks.node_up(node)
        return node.state

    nodes.update(last_error=result.error[:500])
    silent_since = now - timedelta(seconds=down_after)
    downed = (
        nodes.filter(state__in=[MediaNode.State.UP, MediaNode.State.DRAINING])
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=silent_since))
        .update(state=MediaNode.State.DOWN)
    )
    if not downed:
        return None
    node.refresh_from_db()
    try:
        hooks.node_down(node)
    except Exception:  # the hook belongs to another layer; the checker must go on
        log.exception("media.hooks.node_down failed for %s", node.name)
    return MediaNode.State.DOWN


def check_once(
    *, timeout: float = PROBE_TIMEOUT, down_after: float | None = None
) -> dict[str, str]:
    """Probe every node once and store the results; return {node name: new state}."""
    if down_after is None:
        down_after = settings.MEDIA_DOWN_AFTER_SECONDS
    nodes = list(MediaNode.objects.all())
    if not nodes:
        return {}
    results = asyncio.run(_probe_all(nodes, timeout))
    return _record_all(nodes, results, down_after)


async def check_once_async(
    *, timeout: float = PROBE_TIMEOUT, down_after: float | None = None
) -> dict[str, str]:
    """check_once on the running loop, for the web process without Redis. The probes
    wait on the loop, not in the thread that every database call of the process shares:
    a silent node must not hold the calls on the others up for a second per pass."""
    from channels.db import database_sync_to_async

    if down_after is None:
        down_after = settings.MEDIA_DOWN_AFTER_SECONDS
    nodes = await database_sync_to_async(lambda: list(MediaNode.objects.all()))()
    if not nodes:
        return {}
    results = await _probe_all(nodes, timeout)
    return await database_sync_to_async(_record_all)(nodes, results, down_after)


def _record_all(nodes: list[MediaNode], results: list[Probe], down_after: float) -> dict[str, str]:
    now = timezone.now()
    changes = {}
    for node, result in zip(nodes, results, strict=True):
        new_state = record(node, result, now=now, down_after=down_after)
        if new_state is not None:
            changes[node.name] = new_state
    return changes


def run(
    *,
    interval: float = INTERVAL,
    timeout: float = PROBE_TIMEOUT,
    down_after: float | None = None,
    until: Callable[[], bool] | None = None,
) -> None:
    """Check every ``interval`` seconds, forever or until ``until()`` is true."""
    while True:
        started = time.monotonic()
        # A long-running loop must survive a database restart like any worker.
        close_old_connections()
        try:
            check_once(timeout=timeout, down_after=down_after)
        except DatabaseError:
            log.exception("Media health pass failed; trying again")
        if until is not None and until():
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
