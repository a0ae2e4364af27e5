"""The web process's side of the media plane: one Janus connection per node, rooms per call.

Consumers and workers ask the hub for a node's client; the hub connects lazily,
keeps a control handle per node for room administration, and remembers nothing
that the database does not also hold, so another process can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from calls import actions
from calls.models import Call, CallRoom, MediaOutage
from media import connect, placement, rooms
from media.janus import Handle, JanusClient, JanusError, JanusException
from media.models import MediaNode

log = logging.getLogger(__name__)

# A node that does not answer a connection within this is the health checker's to judge.
CONNECT_TIMEOUT = 2.0


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
            client = connect.client(
                node.ws_url,
                connect_timeout=CONNECT_TIMEOUT,
                # A Janus back from a restart is found within a second: its calls'
                # sessions are then known lost, and their pages set their media up again.
                backoff=(0.1, 1.0),
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
        """The call's room: the current one if its Janus still has it, else a new one on
        the best node (the first time, or after the node failed or its Janus restarted)."""
        self._reset_if_new_loop()
        async with self._lock(call.pk):
            call = await database_sync_to_async(Call.objects.select_related("media_node").get)(
                pk=call.pk
            )
            if call.janus_room is not None:
                room = room_of(call)
                # A call that ended meanwhile keeps its (destroyed) room: nothing to check.
                if not call.is_open or await self._room_alive(call, room):
                    return call.media_node, room
                # Janus restarted before anyone noticed: the room went with it.
                await database_sync_to_async(actions.do_media_lost)(
                    call,
                    node_id=call.media_node_id,
                    room_id=room.id,
                    cause=MediaOutage.Cause.MEDIA_RESTART,
                    detail="room gone at hello",
                )
                call = await database_sync_to_async(Call.objects.get)(pk=call.pk)
            return await self._place(call)

    async def _room_alive(self, call: Call, room: rooms.Room) -> bool:
        try:
            link = await self.link(call.media_node)
            return await rooms.room_exists(link.control, room.id)
        except JanusException as exc:
            # A node that does not answer is the health checker's to judge (it moves the
            # call when it marks the node down); the hello fails meanwhile, and retries.
            log.info("Room %s of call %s: cannot check: %s", room.id, call.pk, exc)
            raise

    async def _place(self, call: Call) -> tuple[MediaNode, rooms.Room]:
        node = await database_sync_to_async(placement.choose_node)()
        # A conversation under way is recorded from its new room's first packet; a call
        # still waiting is not recorded at all (enable_recording when it goes live).
        record_now = call.recorded and call.state == Call.State.LIVE
        rec_dir = f"{node.recording_dir}/call-{call.pk}" if call.recorded else None
        # The kiosk and each relative the call reaches publish (a monitor never does).
        relatives = await database_sync_to_async(call.relatives.count)()
        try:
            link = await self.link(node)
            room = await rooms.create_room(
                link.control,
                admin_key=settings.JANUS_ROOM_ADMIN_KEY,
                publishers=1 + max(1, relatives),
                record=record_now,
                rec_dir=rec_dir,
                monitoring_allowed=call.recorded,
                description=f"call {call.pk}",
            )
        except BaseException:
            await database_sync_to_async(placement.release_node)(node)
            raise
        assigned = await database_sync_to_async(actions.do_assign_room)(
            call, node=node, room_id=room.id, pin=room.pin, secret=room.secret,
            recording=record_now,
        )  # fmt: skip
        if assigned.janus_room != room.id:
            # Another process gave the call a room first (or the call ended): ours is a spare.
            with contextlib.suppress(JanusException):
                await rooms.destroy_room(link.control, room)
            await database_sync_to_async(placement.release_node)(node)
            if assigned.janus_room is None:
                raise CallOver(f"Call {call.pk} ended while its room was being made")
            assigned = await database_sync_to_async(Call.objects.select_related("media_node").get)(
                pk=call.pk
            )
            return assigned.media_node, room_of(assigned)
        return node, room

    async def start_recording(self, call: Call) -> None:
        """The conversation started: Janus records the call's room from now on."""
        call = await database_sync_to_async(Call.objects.select_related("media_node").get)(
            pk=call.pk
        )
        if not call.recorded or call.janus_room is None:
            return
        link = await self.link(call.media_node)
        await rooms.enable_recording(link.control, room_of(call))
        # Every side's page asks its browser for a keyframe (calls.consumers): the files
        # begin mid-stream.
        await database_sync_to_async(actions.do_note_recording)(
            call, node_id=call.media_node_id, room_id=call.janus_room
        )

    async def release_room(self, room: CallRoom) -> bool:
        """Destroy a room the call no longer uses; True once it is gone from its Janus."""
        try:
            link = await self.link(room.node)
            await control_destroy(link.control, room)
        except JanusError as exc:
            if exc.code == rooms.NO_SUCH_ROOM:
                return True  # its Janus restarted, or another worker was first
            log.warning("Destroying room %s of call %s: %s", room.room, room.call_id, exc)
            return False
        except JanusException as exc:
            # The node does not answer: try again later (the worker gives up on a node
            # that stays down, whose Janus will have lost the room anyway).
            log.info("Destroying room %s of call %s: %s", room.room, room.call_id, exc)
            return False
        return True


class CallOver(JanusException):
    """The call ended while the hub was giving it media."""


async def control_destroy(control: Handle, room: CallRoom) -> None:
    await control.message({"request": "destroy", "room": room.room, "secret": room.secret})


def room_of(call: Call) -> rooms.Room:
    """The call's current room, as the hub made it."""
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
