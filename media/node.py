"""What runs on a media host of its own, beside Janus, without parloir's database.

    python -m media.node config --out /etc/parloir/janus    # Janus's configuration
    python -m media.node agent                             # ships the recordings away
    python -m media.node turn-config --out /etc/parloir/turn   # on a TURN host

Both read the environment only (docs/deployment.md, "Media hosts"): a media host needs
Janus's own secrets and the recordings' public key, never the database password nor
the recording master key.

The agent watches the node's recording folder. Once a room no longer exists in the
local Janus (destroyed at the call's end or when the call moved, or lost when Janus
restarted), each of its files is sealed for the web hosts (recordings.sealing) into
the storage they share, the room's manifest is written last, and the plaintext is
deleted: Janus's files live on the media host only while their room does, plus one
pass of the agent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from media.config import JanusNodeConfig, default_janus_lib_dir, render_janus, render_turn
from media.janus import VIDEOROOM, JanusAdmin, JanusException, tls_context
from parloir import env
from parloir.env import ConfigurationError

log = logging.getLogger("media.node")

MJR = re.compile(r"^videoroom-(?P<room>\d+)-user-\d+-\d+-(audio|video|data)-\d+\.mjr$")
CALL_FOLDER = re.compile(r"^call-\d+$")


def _required(name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"{name} is required on a media host (docs/deployment.md)")
    return value


def _secret(name: str) -> str:
    value = env.secret(name, required=True)
    assert value is not None
    return value


def node_config() -> JanusNodeConfig:
    lib_dir = env.get("PARLOIR_JANUS_LIB_DIR")
    return JanusNodeConfig(
        node_name=_required("PARLOIR_NODE_NAME"),
        admin_secret=_secret("PARLOIR_JANUS_ADMIN_SECRET"),
        room_admin_key=_secret("PARLOIR_JANUS_ROOM_ADMIN_KEY"),
        api_secret=env.secret("PARLOIR_JANUS_API_SECRET", required=False),
        recording_dir=Path(_required("PARLOIR_JANUS_RECORDING_DIR")),
        ws_port=env.integer("PARLOIR_JANUS_WS_PORT", 8989),
        admin_ws_port=env.integer("PARLOIR_JANUS_ADMIN_WS_PORT", 7989),
        listen_ip=env.get("PARLOIR_JANUS_LISTEN_IP", "127.0.0.1") or "127.0.0.1",
        api_acl=env.get("PARLOIR_JANUS_API_ACL", "127.") or "127.",
        tls_cert=env.get("PARLOIR_JANUS_TLS_CERT", "") or "",
        tls_key=env.get("PARLOIR_JANUS_TLS_KEY", "") or "",
        ice_enforce_list=env.get("PARLOIR_JANUS_ICE_ENFORCE_LIST", "") or "",
        nat_1_1_mapping=env.get("PARLOIR_JANUS_NAT_1_1_MAPPING", "") or "",
        interface=env.get("PARLOIR_JANUS_INTERFACE", "") or "",
        rtp_port_range=env.get("PARLOIR_JANUS_RTP_PORT_RANGE", "20000-40000") or "20000-40000",
        session_timeout=env.integer("PARLOIR_JANUS_SESSION_TIMEOUT", 60),
        reclaim_session_timeout=env.integer("PARLOIR_JANUS_RECLAIM_TIMEOUT", 120),
        event_loops=env.integer("PARLOIR_JANUS_EVENT_LOOPS", os.cpu_count() or 1),
        **({"lib_dir": Path(lib_dir)} if lib_dir else {"lib_dir": default_janus_lib_dir()}),
    )


def turn_config():
    """coturn's configuration on a TURN host of its own, from the same variables as the
    web hosts' settings (docs/configuration.md, "TURN")."""
    from media.config import TurnConfig

    peers = tuple(p for p in (env.get("PARLOIR_TURN_ALLOWED_PEER_IPS", "") or "").split(",") if p)
    return TurnConfig(
        node_name=env.get("PARLOIR_NODE_NAME", "turn") or "turn",
        secret=_secret("PARLOIR_TURN_SECRET"),
        realm=env.get("PARLOIR_TURN_REALM", "parloir") or "parloir",
        userdb=Path(env.get("PARLOIR_TURN_USERDB", "/var/lib/parloir-turn/turndb") or ""),
        allowed_peer_ips=peers,
        port=env.integer("PARLOIR_TURN_PORT", 3478),
        listening_ip=env.get("PARLOIR_TURN_LISTENING_IP", "") or "",
        relay_ip=env.get("PARLOIR_TURN_RELAY_IP", "") or "",
        external_ip=env.get("PARLOIR_TURN_EXTERNAL_IP", "") or "",
        min_port=env.integer("PARLOIR_TURN_MIN_PORT", 49152),
        max_port=env.integer("PARLOIR_TURN_MAX_PORT", 65535),
        tls_cert=env.get("PARLOIR_TURN_TLS_CERT", "") or "",
        tls_key=env.get("PARLOIR_TURN_TLS_KEY", "") or "",
        tls_port=env.integer("PARLOIR_TURN_TLS_PORT", 5349),
    )


# --- The agent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    recording_dir: Path
    store: Path
    public_key: str
    admin_url: str
    admin_secret: str
    room_admin_key: str
    ca_file: str = ""
    interval: float = 2.0
    # A file whose room is gone but that changed this recently may still be closing.
    settle: float = 2.0

    @classmethod
    def from_env(cls) -> AgentConfig:
        config = node_config()
        scheme = "wss" if config.tls_cert else "ws"
        host = config.listen_ip
        return cls(
            node_name=config.node_name,
            recording_dir=config.recording_dir,
            store=Path(_required("PARLOIR_RECORDING_SOURCE_STORE")),
            public_key=_required("PARLOIR_RECORDING_PUBLIC_KEY"),
            admin_url=env.get("PARLOIR_JANUS_ADMIN_URL")
            or f"{scheme}://{host}:{config.admin_ws_port}",
            admin_secret=config.admin_secret,
            room_admin_key=config.room_admin_key,
            ca_file=env.get("PARLOIR_JANUS_CA_FILE", "") or "",
            interval=env.number("PARLOIR_AGENT_INTERVAL_SECONDS", 2.0),
        )


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        from recordings.sealing import load_public_key

        self.config = config
        self.recipient = load_public_key(config.public_key)
        self._admin: JanusAdmin | None = None

    async def live_rooms(self) -> set[int]:
        """The rooms Janus has now (raises JanusException when it does not answer)."""
        if self._admin is None or not self._admin.connected:
            context = tls_context(self.config.ca_file) if self.config.admin_url.startswith(
                "wss://"
            ) else None  # fmt: skip
            self._admin = JanusAdmin(
                self.config.admin_url, self.config.admin_secret, request_timeout=5,
                connect_timeout=5, ssl_context=context,
            )  # fmt: skip
            await self._admin.connect()
        listed = await self._admin.message_plugin(
            VIDEOROOM, {"request": "list", "admin_key": self.config.room_admin_key}
        )
        return {int(room["room"]) for room in listed.get("list") or []}

    def waiting(self) -> dict[tuple[str, int], list[Path]]:
        """Janus files still here, by (call folder, room)."""
        found: dict[tuple[str, int], list[Path]] = defaultdict(list)
        if not self.config.recording_dir.is_dir():
            return found
        for folder in self.config.recording_dir.iterdir():
            if not (folder.is_dir() and CALL_FOLDER.match(folder.name)):
                continue
            for path in folder.iterdir():
                match = MJR.match(path.name)
                if match:
                    found[(folder.name, int(match["room"]))].append(path)
        return found

    async def pass_once(self) -> list[tuple[str, int]]:
        """Ship every room that is gone from Janus; return what was shipped."""
        waiting = self.waiting()
        if not waiting:
            return []
        try:
            live = await self.live_rooms()
        except JanusException as exc:
            # Janus is down or restarting: its rooms are gone, but it may be writing its
            # last packets until it dies; the next pass, with an answer, decides.
            log.info("Janus does not answer (%s): shipping waits", exc)
            if self._admin is not None:
                await self._admin.close()
            self._admin = None
            return []
        shipped = []
        now = time.time()
        for (folder, room), paths in sorted(waiting.items()):
            if room in live:
                continue
            if any(now - path.stat().st_mtime < self.config.settle for path in paths):
                continue
            await asyncio.to_thread(self.ship, folder, room, paths)
            shipped.append((folder, room))
        return shipped

    def ship(self, folder: str, room: int, paths: list[Path]) -> None:
        from recordings.sealing import MANIFEST, read_manifest, seal_file, write_manifest

        target = self.config.store / self.config.node_name / folder
        target.mkdir(parents=True, exist_ok=True)
        manifest = target / MANIFEST.format(room=room)
        # A room shipped before (a crash between the manifest and the deletion): keep
        # what was sealed, add what was not.
        done = {entry.name: entry for entry in read_manifest(manifest)} if manifest.exists() else {}
        sealed = [done[p.name] if p.name in done else seal_file(p, target, self.recipient)
                  for p in sorted(paths)]  # fmt: skip
        write_manifest(target, node=self.config.node_name, room=room, files=sealed)
        for path in paths:
            path.unlink(missing_ok=True)
        try:
            paths[0].parent.rmdir()
        except OSError:
            pass  # other rooms of the call are still there
        log.info("Shipped room %s of %s: %s files", room, folder, len(paths))

    async def run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except OSError:
                log.exception("Shipping failed; trying again")
            await asyncio.sleep(self.config.interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.node", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    config_parser = commands.add_parser("config", help="Write Janus's configuration files.")
    config_parser.add_argument("--out", required=True, type=Path)
    turn_parser = commands.add_parser(
        "turn-config", help="Write coturn's configuration, on a TURN host of its own."
    )
    turn_parser.add_argument("--out", required=True, type=Path)
    agent_parser = commands.add_parser("agent", help="Ship the recordings to the shared store.")
    agent_parser.add_argument("--once", action="store_true", help="One pass, then exit.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "config":
            config = node_config()
            written = render_janus(config, args.out)
            config.recording_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            for path in written:
                print(path)
            return 0
        if args.command == "turn-config":
            print(render_turn(turn_config(), args.out))
            return 0
        agent = Agent(AgentConfig.from_env())
        if args.once:
            for folder, room in asyncio.run(agent.pass_once()):
                print(f"{folder} room {room}")
            return 0
        asyncio.run(agent.run())
        return 0
    except ConfigurationError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
