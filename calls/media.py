"""The web process's side of the media plane: one Janus connection per node, rooms per call.

Consumers and workers ask the hub for a node's client; the hub connects lazily,
keeps a control handle per node for room administration, and remembers nothing
that the database does not also hold, so another process can take over.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from calls import actions
from calls.models import Call
from media import placement, rooms
from media.janus import Handle, JanusClient, JanusError, JanusException
from media.models import MediaNode

log = logging.getLogger(__name__)


@dataclass
class NodeLink:
    client: JanusClient
    control: Handle


class Hub:
    def __init__(self) -> None:
        self._links: dict[int, NodeLink] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _reset_if_new_loop(self) -> None:
        # Tests (and management commands) may run several event loops in one process:
        # connections belong to the loop that opened them.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._links.clear()
            self._locks.clear()
            self._loop = loop

    def _lock(self, key: int) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def link(self, node: MediaNode) -> NodeLink:
        self._reset_if_new_loop()
        async with self._lock(-node.pk):
            link = self._links.get(node.pk)
            if link is not None and link.client.up:
                if not link.control.session.lost:
                    return link
                # Janus restarted: the connection came back, the sessions did not.
                link.control = await (await link.client.create_session()).attach()
                return link
            if link is not None:
                await link.client.close()
            client = JanusClient(
                node.ws_url,
                api_secret=settings.JANUS_API_SECRET,
                request_timeout=settings.JANUS_REQUEST_TIMEOUT,
            )
            await client.connect()
            session = await client.create_session()
            control = await session.attach()
            link = NodeLink(client, control)
            self._links[node.pk] = link
            return link

    async def close(self, *, destroy_sessions: bool = False) -> None:
        """Close every node connection (a process shutting down, a test cleaning up)."""
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.client.close(destroy_sessions=destroy_sessions)

    async def ensure_room(self, call: Call) -> tuple[MediaNode, rooms.Room]:
        """The call's room, created on the best node the first time it is needed."""
        self._reset_if_new_loop()
        async with self._lock(call.pk):
            call = await database_sync_to_async(Call.objects.select_related("media_node").get)(
                pk=call.pk
            )
            if call.janus_room is not None:
                room = room_of(call)
                # A call that ended meanwhile (its room destroyed by the call worker) must
                # not get a room back that nothing would release again.
                if call.is_open and call.media_released_at is None:
                    await self._recreate_if_lost(call, room)
                return call.media_node, room
            node = await database_sync_to_async(placement.choose_node)()
            try:
                link = await self.link(node)
                room = await rooms.create_room(
                    link.control,
                    admin_key=settings.JANUS_ROOM_ADMIN_KEY,
                    record=call.recorded,
                    rec_dir=f"{node.recording_dir}/call-{call.pk}" if call.recorded else None,
                    monitoring_allowed=call.recorded,
                    description=f"call {call.pk}",
                )
            except BaseException:
                await database_sync_to_async(placement.release_node)(node)
                raise
            assigned = await database_sync_to_async(actions.do_assign_room)(
                call, node=node, room_id=room.id, pin=room.pin, secret=room.secret
            )
            if assigned.janus_room != room.id:
                # Another process created the room first: ours is a spare.
                await rooms.destroy_room(link.control, room)
                await database_sync_to_async(placement.release_node)(node)
                return assigned.media_node, room_of(assigned)
            return node, room

    async def _recreate_if_lost(self, call: Call, room: rooms.Room) -> None:
        """A Janus that restarted faster than the health checker's verdict lost the
        room while the call lives on: the pages' next hello would be refused for ever.
        The room comes back with its id, pin and secret (its recording goes on in the
        same folder, under the same id)."""
        link = await self.link(call.media_node)
        if await rooms.room_exists(link.control, room.id):
            return
        try:
            await rooms.create_room(
                link.control,
                admin_key=settings.JANUS_ROOM_ADMIN_KEY,
                record=room.record,
                rec_dir=room.rec_dir,
                monitoring_allowed=room.monitoring_allowed,
                description=f"call {call.pk}",
                again=room,
            )
        except JanusError as exc:
            if exc.code != rooms.ROOM_EXISTS:  # another process was first: fine
                raise
        log.warning("Room %s of call %s was gone from %s: created again", room.id, call.pk,
                    call.media_node.name)  # fmt: skip

    async def release_room(self, call: Call) -> None:
        if call.janus_room is None or call.media_node is None:
            return
        try:
            link = await self.link(call.media_node)
            await rooms.destroy_room(link.control, room_of(call))
        except JanusException as exc:
            # A dead node took the room with it; a live one without the room is fine too.
            log.info("Destroying room of call %s: %s", call.pk, exc)


def room_of(call: Call) -> rooms.Room:
    rec_dir = f"{call.media_node.recording_dir}/call-{call.pk}" if call.recorded else None
    return rooms.Room(
        id=call.janus_room,
        pin=call.janus_room_pin,
        secret=call.janus_room_secret,
        record=call.recorded,
        rec_dir=rec_dir,
        monitoring_allowed=call.recorded,
    )


hub = Hub()
