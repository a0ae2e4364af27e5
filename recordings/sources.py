"""Where a call's Janus recording files are, room by room.

A call moves to a new room when its media node fails or its Janus restarts, so its
recording is made of every room's files (calls.models.CallRoom). A room's files are
either where its node wrote them, on this machine (a node on the web host, as in the
single-machine installation), or sealed by the node's agent in the shared store (a
node with ``ships_recordings``: recordings.sealing, media/node.py).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from calls.models import Call, CallRoom
from recordings import compose


def folder_of(recording_dir: str, call_id: int) -> Path:
    """The folder a node writes a call's files to (calls.media creates rooms with it)."""
    return Path(recording_dir) / f"call-{call_id}"


@dataclass(frozen=True)
class LocalRoom:
    """A room whose node writes its files on this machine."""

    folder: Path
    room: int

    def paths(self) -> list[Path]:
        return compose.find_sources(self.folder, self.room)

    def settled(self, limit: float, gone: bool) -> bool:
        """Nothing written since ``limit`` (a timestamp): Janus has closed the files."""
        for path in self.paths():
            try:
                if path.stat().st_mtime > limit:
                    return False
            except FileNotFoundError:
                continue
        return True

    def fetch(self, work: Path) -> list[Path]:
        return self.paths()

    def stored(self) -> list[Path]:
        return self.paths()

    def delete(self) -> int:
        paths = self.paths()
        for path in paths:
            path.unlink(missing_ok=True)
        _remove_if_empty(self.folder)
        return len(paths)


@dataclass(frozen=True)
class ShippedRoom:
    """A room of a node on another machine: its files arrive sealed in the shared store,
    complete once its manifest is there."""

    folder: Path
    room: int

    @property
    def manifest(self) -> Path:
        from recordings.sealing import MANIFEST

        return self.folder / MANIFEST.format(room=self.room)

    def entries(self):
        from recordings.sealing import read_manifest

        return read_manifest(self.manifest) if self.manifest.exists() else []

    def settled(self, limit: float, gone: bool) -> bool:
        # Shipped by the agent, or never will be: its node was given up on (the call
        # worker's MEDIA_ROOM_GIVE_UP_SECONDS), and its manifest did not come.
        return self.manifest.exists() or gone

    def fetch(self, work: Path) -> list[Path]:
        """Decrypt the room's files into ``work`` (the worker's private folder)."""
        from recordings import crypto
        from recordings.sealing import open_file

        keys = crypto.source_private_keys()
        target = work / f"room-{self.room}"
        target.mkdir(parents=True, exist_ok=True)
        return [
            open_file(self.folder, entry, keys, target / entry.name) for entry in self.entries()
        ]

    def stored(self) -> list[Path]:
        files = [self.folder / entry.sealed_name for entry in self.entries()]
        return [
            *(f for f in files if f.exists()),
            *([self.manifest] if self.manifest.exists() else []),
        ]

    def delete(self) -> int:
        entries = self.entries()
        for entry in entries:
            (self.folder / entry.sealed_name).unlink(missing_ok=True)
        self.manifest.unlink(missing_ok=True)
        _remove_if_empty(self.folder)
        return len(entries)


Room = LocalRoom | ShippedRoom


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (another room's files) or already gone


def rooms_of(call: Call) -> list[Room]:
    rooms: list[Room] = []
    for node_name, node_dir, shipped, room in (
        CallRoom.objects.filter(call=call)
        .order_by("created_at", "pk")
        .values_list("node__name", "node__recording_dir", "node__ships_recordings", "room")
    ):
        if shipped:
            folder = Path(settings.RECORDING_SOURCE_STORE) / node_name / f"call-{call.pk}"
            rooms.append(ShippedRoom(folder, room))
        else:
            rooms.append(LocalRoom(folder_of(node_dir, call.pk), room))
    if not rooms and call.media_node_id is not None and call.janus_room is not None:
        # A call placed before rooms were kept apart, as the call's own fields say.
        rooms = [LocalRoom(folder_of(call.media_node.recording_dir, call.pk), call.janus_room)]
    return rooms


def settled(call: Call, now: datetime) -> bool:
    """Every room's files are complete: nothing written lately here, or the room shipped."""
    wait = timedelta(seconds=settings.RECORDINGS_SETTLE_SECONDS)
    if call.media_released_at is None or call.media_released_at + wait > now:
        return False
    limit = (now - wait).timestamp()
    gone = _given_up_rooms(call)
    return all(room.settled(limit, (room.room in gone)) for room in rooms_of(call))


def _given_up_rooms(call: Call) -> set[int]:
    """Rooms released because their node stayed down (their files never came)."""
    return set(
        CallRoom.objects.filter(
            call=call, released_at__isnull=False, node__state="down"
        ).values_list("room", flat=True)
    )


def fetch(call: Call, work: Path) -> list[Path]:
    """Every .mjr file of the call, readable from this process (decrypted into ``work``
    for shipped rooms)."""
    return [path for room in rooms_of(call) for path in room.fetch(work)]


def find(call: Call) -> list[Path]:
    """The files as they are stored (sealed ones included), for destruction."""
    return [path for room in rooms_of(call) for path in room.stored()]


def delete(call: Call) -> int:
    return sum(room.delete() for room in rooms_of(call))


def folders(call: Call) -> list[Path]:
    return list(dict.fromkeys(room.folder for room in rooms_of(call)))


def clear_work(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
