"""Media node health: ping every node's admin API four times a second, keep ``state`` true.

A node goes ``down`` when it has not answered for ``down_after`` seconds (1.5 by
default): with a standing admin connection pinged every 0.25 s, a dead node is marked
within 2 s, and its calls move (``hooks.node_down``). It goes back ``up`` (or
``draining``, if an operator asked) on its first answer (``hooks.node_up``). Each
transition is one conditional UPDATE, so two checkers (or a checker and an operator)
never undo each other's work, and a hook runs once per transition, in the checker
whose UPDATE won.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from media import connect, hooks
from media.checks import require
from media.janus import VIDEOROOM, JanusAdmin, JanusException
from media.models import MediaNode
from media.rooms import every_handle
from ops import metrics as ops_metrics

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0
INTERVAL = 0.25


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
        async with connect.admin(
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
        # Never backwards: another checker may have heard from the node more recently.
        nodes.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=now)).update(**fields)
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


@dataclass
class _Seen:
    """What one checker last heard from one node (wall and monotonic clocks)."""

    at: datetime | None = None
    monotonic: float | None = None
    rooms: int | None = None
    error: str = ""
    written_at: float = 0.0


# (session, handle, mid) -> (packets expected, packets lost), both cumulative.
Counters = dict[tuple[int, int, str], tuple[int, int]]


def loss_counters(info: dict, session_id: int, handle_id: int) -> Counters:
    """One handle's RTCP counters: for a publisher, what reached Janus and what Janus saw
    lost on the way; for a subscriber, what Janus sent and what the receiver reports lost."""
    role = (info.get("plugin_specific") or {}).get("type")
    if role not in ("publisher", "subscriber"):
        return {}
    counters = {}
    for mid, media in ((info.get("webrtc") or {}).get("media") or {}).items():
        direction = media.get("direction") or {}
        stats = media.get("stats") or {}
        rtcp = (media.get("rtcp") or {}).get("main") or {}
        if role == "publisher" and direction.get("recv"):
            lost = int(rtcp.get("lost", 0))
            counters[(session_id, handle_id, str(mid))] = (
                int((stats.get("in") or {}).get("packets", 0)) + lost,
                lost,
            )
        elif role == "subscriber" and direction.get("send"):
            counters[(session_id, handle_id, str(mid))] = (
                int((stats.get("out") or {}).get("packets", 0)),
                int(rtcp.get("lost-by-remote", 0)),
            )
    return counters


async def node_loss_counters(admin: JanusAdmin) -> Counters:
    counters: Counters = {}
    async for session_id, handle_id, info in every_handle(admin):
        counters.update(loss_counters(info, session_id, handle_id))
    return counters


def loss_percent(before: Counters, after: Counters) -> float | None:
    """Packets lost between two sweeps, in percent of those expected; None when no media
    flowed on a link seen by both (a call that just started or just ended)."""
    expected = lost = 0
    for key, (expected_after, lost_after) in after.items():
        if key not in before:
            continue
        expected_before, lost_before = before[key]
        expected += max(0, expected_after - expected_before)
        lost += max(0, lost_after - lost_before)
    if expected <= 0:
        return None
    return round(100 * min(lost, expected) / expected, 2)


def _store_loss(pk: int, percent: float | None) -> None:
    MediaNode.objects.filter(pk=pk).update(
        packet_loss_percent=percent, packet_loss_at=timezone.now()
    )


class Watcher:
    """Keeps one admin connection per node and pings it every ``interval`` seconds.

    A persistent connection makes each probe one small round trip, so probes can be
    frequent: a node that stops answering is marked down ``down_after`` seconds after
    its last answer (1.5 s by default: within 2 s of a failure). Room counts are asked
    once a second. ``last_seen_at`` is written at most every ``WRITE_EVERY`` seconds,
    and never backwards, so several checkers share one view of each node. Every
    ``loss_every`` seconds, another connection per node sweeps the handles' RTCP counters
    for the node's packet loss (a sweep asks once per handle: it must not delay a ping).
    """

    # A node's last answer, written at most this often: the down verdict compares it to
    # now - down_after (1.5 s), so it must stay well below that.
    WRITE_EVERY = 1.0
    ROOMS_EVERY = 1.0

    LOSS_EVERY = 10.0

    def __init__(
        self,
        *,
        interval: float,
        timeout: float,
        down_after: float,
        loss_every: float | None = None,
    ) -> None:
        self.interval = interval
        self.loss_every = self.LOSS_EVERY if loss_every is None else loss_every
        self.timeout = timeout
        self.down_after = down_after
        self.seen: dict[int, _Seen] = {}
        self.states: dict[int, str] = {}
        self._pingers: dict[int, tuple[str, asyncio.Task]] = {}
        self._measurers: dict[int, asyncio.Task] = {}
        self.names: dict[int, str] = {}

    async def run(self, until: Callable[[], bool] | None = None) -> None:
        from channels.db import database_sync_to_async

        try:
            while True:
                started = time.monotonic()
                try:
                    nodes = await database_sync_to_async(_all_nodes)()
                    self._follow(nodes)
                    await database_sync_to_async(self._record)(nodes)
                    ops_metrics.worker_pass("media_health")
                except DatabaseError:
                    log.exception("Media health pass failed; trying again")
                    ops_metrics.worker_pass("media_health", ok=False)
                if until is not None and await database_sync_to_async(until)():
                    return
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            tasks = [t for _u, t in self._pingers.values()] + list(self._measurers.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _follow(self, nodes: list[MediaNode]) -> None:
        """A pinger per node, restarted if its address changed; none for removed nodes."""
        wanted = {node.pk: node.admin_ws_url for node in nodes}
        self.names = {node.pk: node.name for node in nodes}
        for pk, (url, task) in list(self._pingers.items()):
            if wanted.get(pk) != url:
                task.cancel()
                self._measurers.pop(pk).cancel()
                del self._pingers[pk]
                self.seen.pop(pk, None)
        for pk, url in wanted.items():
            if pk not in self._pingers:
                self.seen[pk] = _Seen()
                self._pingers[pk] = (url, asyncio.create_task(self._ping(pk, url)))
                self._measurers[pk] = asyncio.create_task(self._measure_loss(pk, url))

    async def _connected(self, admin: JanusAdmin | None, url: str, secret: str) -> JanusAdmin:
        """``admin`` if it is still connected, else a new connection to ``url``."""
        if admin is not None and admin.connected:
            return admin
        admin = connect.admin(
            url, secret, request_timeout=self.timeout, connect_timeout=self.timeout
        )
        await asyncio.wait_for(admin.connect(), self.timeout)
        return admin

    async def _ping(self, pk: int, url: str) -> None:
        admin_secret = require("JANUS_ADMIN_SECRET")
        room_admin_key = settings.JANUS_ROOM_ADMIN_KEY
        seen = self.seen[pk]
        admin: JanusAdmin | None = None
        rooms_asked = 0.0
        while True:
            started = time.monotonic()
            try:
                admin = await self._connected(admin, url, admin_secret)
                await asyncio.wait_for(admin.ping(), self.timeout)
                if room_admin_key and started - rooms_asked >= self.ROOMS_EVERY:
                    listed = await asyncio.wait_for(
                        admin.message_plugin(
                            VIDEOROOM, {"request": "list", "admin_key": room_admin_key}
                        ),
                        self.timeout,
                    )
                    seen.rooms = len(listed.get("list") or [])
                    rooms_asked = started
                seen.at, seen.monotonic, seen.error = timezone.now(), time.monotonic(), ""
            except (JanusException, TimeoutError) as exc:
                seen.error = str(exc) or f"no answer within {self.timeout} s"
                ops_metrics.MEDIA_PROBE_FAILURES.labels(self.names.get(pk, str(pk))).inc()
                if admin is not None:
                    with contextlib.suppress(JanusException):
                        await admin.close()
                admin = None
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _measure_loss(self, pk: int, url: str) -> None:
        from channels.db import database_sync_to_async

        admin_secret = require("JANUS_ADMIN_SECRET")
        admin: JanusAdmin | None = None
        before: Counters | None = None
        while True:
            started = time.monotonic()
            try:
                admin = await self._connected(admin, url, admin_secret)
                after = await node_loss_counters(admin)
                if before is not None:
                    await database_sync_to_async(_store_loss)(pk, loss_percent(before, after))
                before = after
            except (JanusException, TimeoutError):
                # The pinger reports the node's failures; a measure just starts again.
                before = None
                if admin is not None:
                    with contextlib.suppress(JanusException):
                        await admin.close()
                admin = None
            except DatabaseError:
                log.exception("Cannot store the packet loss of media node %s", pk)
            await asyncio.sleep(max(0.0, self.loss_every - (time.monotonic() - started)))

    def _record(self, nodes: list[MediaNode]) -> dict[str, str]:
        now = timezone.now()
        mono = time.monotonic()
        changes = {}
        for node in nodes:
            # A node that became able to take calls by another hand (an operator's
            # undrain, another checker's revival) is announced too: the calls waiting
            # for a video server hear of it from whichever checker sees it first.
            before = self.states.get(node.pk)
            self.states[node.pk] = node.state
            if before not in (None, MediaNode.State.UP) and node.state == MediaNode.State.UP:
                hooks.node_up(node)
            seen = self.seen.get(node.pk)
            if seen is None:
                continue
            fresh = seen.monotonic is not None and mono - seen.monotonic < self.down_after
            if fresh:
                if mono - seen.written_at < self.WRITE_EVERY and node.state != "down":
                    continue
                seen.written_at = mono
                result = Probe(True, rooms=seen.rooms)
                new_state = record(node, result, now=seen.at, down_after=self.down_after)
            elif seen.error:
                new_state = record(
                    node, Probe(False, seen.error), now=now, down_after=self.down_after
                )
            else:
                continue  # not asked yet
            if new_state is not None:
                changes[node.name] = new_state
                # record() announced it (hooks.node_up) if it came back up.
                self.states[node.pk] = new_state
        return changes


def _all_nodes() -> list[MediaNode]:
    return list(MediaNode.objects.all())


def run(
    *,
    interval: float = INTERVAL,
    timeout: float = PROBE_TIMEOUT,
    down_after: float | None = None,
    loss_every: float | None = None,
    until: Callable[[], bool] | None = None,
) -> None:
    """Watch every node until stopped (or until ``until()`` is true)."""
    if down_after is None:
        down_after = settings.MEDIA_DOWN_AFTER_SECONDS
    close_old_connections()
    watcher = Watcher(
        interval=interval, timeout=timeout, down_after=down_after, loss_every=loss_every
    )
    asyncio.run(watcher.run(until))
