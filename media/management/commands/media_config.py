import os
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media.checks import require
from media.config import (
    JanusNodeConfig,
    TurnConfig,
    default_janus_lib_dir,
    render_janus,
    render_turn,
)
from media.models import MediaNode
from parloir.env import ConfigurationError


def _port(url: str, default: int) -> int:
    return urlsplit(url).port or default


def janus_config(
    node: MediaNode, *, ws_port: int | None, admin_ws_port: int | None
) -> JanusNodeConfig:
    return JanusNodeConfig(
        node_name=node.name,
        admin_secret=require("JANUS_ADMIN_SECRET"),
        room_admin_key=require("JANUS_ROOM_ADMIN_KEY"),
        api_secret=settings.JANUS_API_SECRET,
        recording_dir=Path(node.recording_dir),
        # Janus listens on 127.0.0.1: the node's URLs give its ports unless parloir
        # reaches it through a tunnel whose local port differs.
        ws_port=ws_port or _port(node.ws_url, 8188),
        admin_ws_port=admin_ws_port or _port(node.admin_ws_url, 7188),
        ice_enforce_list=settings.JANUS_ICE_ENFORCE_LIST,
        nat_1_1_mapping=settings.JANUS_NAT_1_1_MAPPING,
        interface=settings.JANUS_INTERFACE,
        rtp_port_range=settings.JANUS_RTP_PORT_RANGE,
        session_timeout=settings.JANUS_SESSION_TIMEOUT,
        reclaim_session_timeout=settings.JANUS_RECLAIM_TIMEOUT,
        event_loops=settings.JANUS_EVENT_LOOPS,
        lib_dir=Path(settings.JANUS_LIB_DIR) if settings.JANUS_LIB_DIR else default_janus_lib_dir(),
    )


def turn_config(node: MediaNode) -> TurnConfig:
    return TurnConfig(
        node_name=node.name,
        secret=require("TURN_SECRET"),
        realm=settings.TURN_REALM,
        userdb=Path(settings.TURN_USERDB),
        allowed_peer_ips=tuple(settings.TURN_ALLOWED_PEER_IPS),
        port=settings.TURN_PORT,
        listening_ip=settings.TURN_LISTENING_IP,
        relay_ip=settings.TURN_RELAY_IP,
        external_ip=settings.TURN_EXTERNAL_IP,
        min_port=settings.TURN_MIN_PORT,
        max_port=settings.TURN_MAX_PORT,
        tls_cert=settings.TURN_TLS_CERT,
        tls_key=settings.TURN_TLS_KEY,
        tls_port=settings.TURN_TLS_PORT,
    )


class Command(BaseCommand):
    help = (
        "Write the Janus configuration (and coturn's, when PARLOIR_TURN_SECRET is set) "
        "for a media node from the templates in deploy/. Run it on the node; start Janus "
        "with `janus -F OUT -C OUT/janus.jcfg` and coturn with `turnserver -c OUT/turnserver.conf`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", required=True, help="MediaNode name")
        parser.add_argument("--out", required=True, type=Path, help="Output folder")
        parser.add_argument("--ws-port", type=int, help="Janus API port (default: from ws_url)")
        parser.add_argument(
            "--admin-ws-port", type=int, help="Janus admin API port (default: from admin_ws_url)"
        )
        parser.add_argument("--no-turn", action="store_true", help="Skip turnserver.conf")

    def handle(self, *args: object, **options: object) -> None:
        name = options["node"]
        try:
            node = MediaNode.objects.get(name=name)
        except MediaNode.DoesNotExist:
            raise CommandError(f"No media node named {name!r}; create it in the admin first")
        out = Path(options["out"])  # type: ignore[arg-type]
        try:
            written = render_janus(
                janus_config(
                    node,
                    ws_port=options["ws_port"],  # type: ignore[arg-type]
                    admin_ws_port=options["admin_ws_port"],  # type: ignore[arg-type]
                ),
                out,
            )
            if settings.TURN_SECRET and not options["no_turn"]:
                written.append(render_turn(turn_config(node), out))
        except ConfigurationError as exc:
            raise CommandError(str(exc))
        recording_dir = Path(node.recording_dir)
        recording_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        for path in written:
            self.stdout.write(str(path))
        if not os.access(recording_dir, os.W_OK):
            self.stderr.write(f"Warning: {recording_dir} is not writable by this user")
        self.stdout.write(f"Recordings: {recording_dir} (must be writable by Janus's user)")
