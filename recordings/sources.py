"""Where a call's Janus recording files are: one folder per media node, one room or more.

A call moves to a new room when its media node fails or its Janus restarts, so its
recording is made of every room's files (calls.models.CallRoom).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calls.models import Call, CallRoom
from recordings import compose


@dataclass(frozen=True)
class RoomFiles:
    folder: Path
    room: int

    def paths(self) -> list[Path]:
        return compose.find_sources(self.folder, self.room)


def folder_of(recording_dir: str, call_id: int) -> Path:
    """The folder a node writes a call's files to (calls.media creates rooms with it)."""
    return Path(recording_dir) / f"call-{call_id}"


def rooms_of(call: Call) -> list[RoomFiles]:
    rooms = [
        RoomFiles(folder_of(node_dir, call.pk), room)
        for node_dir, room in CallRoom.objects.filter(call=call)
        .order_by("created_at", "pk")
        .values_list("node__recording_dir", "room")
    ]
    if not rooms and call.media_node_id is not None and call.janus_room is not None:
        # A call placed before rooms were kept apart, as the call's own fields say.
        rooms = [RoomFiles(folder_of(call.media_node.recording_dir, call.pk), call.janus_room)]
    return rooms


def find(call: Call) -> list[Path]:
    """Every .mjr file of the call, in every room it had."""
    return [path for room in rooms_of(call) for path in room.paths()]


def folders(call: Call) -> list[Path]:
    return list(dict.fromkeys(room.folder for room in rooms_of(call)))
