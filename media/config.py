"""Janus and coturn configuration rendered from the templates in deploy/.

The templates are the reviewed, versioned part; this module only fills in what
differs between nodes and environments, and refuses values that could break
out of a quoted string in the generated files.
"""

from __future__ import annotations

import glob
import os
import string
from dataclasses import dataclass, field
from pathlib import Path

from parloir.env import ConfigurationError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "deploy"
JANUS_TEMPLATES = (
    "janus.jcfg",
    "janus.transport.websockets.jcfg",
    "janus.plugin.videoroom.jcfg",
)
TURN_TEMPLATE = "turnserver.conf"

# What Debian's janus package ships. Everything is disabled explicitly except the
# one plugin and the one transport we use, so that a package upgrade adding a
# module cannot silently open a new API; modules found on disk are added too.
_KNOWN_MODULES = {
    "plugins": {
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "videoroom",
        "voicemail",
    },
    "transports": {"http", "mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"},
    "loggers": {"jsonlog"},
    "events": {"gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "sampleevh", "wsevh"},
}
_KEEP_MODULES = {"plugins": {"videoroom"}, "transports": {"websockets"}}


def default_janus_lib_dir() -> Path:
    """Where the Janus modules live: Debian puts them under its multiarch triplet."""
    for pattern in ("/usr/lib/*/janus", "/usr/lib/janus", "/opt/janus/lib/janus"):
        for match in sorted(glob.glob(pattern)):
            if os.path.isdir(os.path.join(match, "plugins")):
                return Path(match)
    return Path("/usr/lib/janus")


@dataclass(frozen=True)
class JanusNodeConfig:
    node_name: str
    admin_secret: str
    room_admin_key: str
    recording_dir: Path
    ws_port: int = 8188
    admin_ws_port: int = 7188
    api_secret: str | None = None
    # Comma-separated interfaces or addresses Janus may gather ICE candidates on.
    ice_enforce_list: str = ""
    # Public address(es) to advertise instead of the private one behind a 1:1 NAT.
    nat_1_1_mapping: str = ""
    # Address written in the SDP; Janus otherwise guesses it from the default route.
    interface: str = ""
    rtp_port_range: str = "20000-40000"
    session_timeout: int = 60
    reclaim_session_timeout: int = 120
    event_loops: int = field(default_factory=lambda: os.cpu_count() or 1)
    lib_dir: Path = field(default_factory=default_janus_lib_dir)
    debug_level: int = 4
    # Where the APIs listen, and who may talk to them. Anything but loopback is a media
    # host of its own: then TLS (tls_cert, tls_key) and api_secret are required.
    listen_ip: str = "127.0.0.1"
    api_acl: str = "127."
    tls_cert: str = ""
    tls_key: str = ""

    @property
    def remote(self) -> bool:
        return not self.listen_ip.startswith("127.")


@dataclass(frozen=True)
class TurnConfig:
    node_name: str
    secret: str
    realm: str
    userdb: Path
    allowed_peer_ips: tuple[str, ...]
    port: int = 3478
    listening_ip: str = ""
    relay_ip: str = ""
    external_ip: str = ""
    min_port: int = 49152
    max_port: int = 65535
    # TURN over TLS (turns:) gets through firewalls that only let HTTPS out.
    tls_cert: str = ""
    tls_key: str = ""
    tls_port: int = 5349
    pidfile: Path | None = None


def _jcfg_string(name: str, value: str) -> str:
    """``value`` escaped for a double-quoted libconfig string."""
    if any(ord(char) < 0x20 for char in value):
        raise ConfigurationError(f"{name} must not contain control characters")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _conf_value(name: str, value: str) -> str:
    """``value`` for a ``key=value`` line of turnserver.conf, which has no quoting."""
    if not value or any(char.isspace() or char == "#" for char in value):
        raise ConfigurationError(f"{name} must be non-empty, without spaces or '#': {value!r}")
    return value


def _port(name: str, value: int) -> str:
    if not 1 <= value <= 65535:
        raise ConfigurationError(f"{name} must be a TCP/UDP port, got {value}")
    return str(value)


def _disabled(kind: str, lib_dir: Path) -> str:
    found = {
        path.name.removeprefix("libjanus_").removesuffix(".so")
        for path in (lib_dir / kind).glob("libjanus_*.so")
    }
    names = (_KNOWN_MODULES[kind] | found) - _KEEP_MODULES.get(kind, set())
    return ",".join(f"libjanus_{name}.so" for name in sorted(names))


def _render(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATE_DIR / template).read_text()
    return string.Template(text).substitute(values)


def _write(path: Path, text: str) -> None:
    # The files hold secrets: readable by the owner (the Janus/coturn user) only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def render_janus(config: JanusNodeConfig, out_dir: Path) -> list[Path]:
    """Write the three Janus configuration files into ``out_dir``; return their paths."""
    out_dir = out_dir.resolve()
    if not config.admin_secret or not config.room_admin_key:
        raise ConfigurationError(
            "PARLOIR_JANUS_ADMIN_SECRET and PARLOIR_JANUS_ROOM_ADMIN_KEY are required "
            "to generate a Janus configuration"
        )
    if config.ws_port == config.admin_ws_port:
        raise ConfigurationError("The Janus API and admin API need different ports")
    low, _, high = config.rtp_port_range.partition("-")
    if not (low.isdigit() and high.isdigit() and 0 < int(low) < int(high) <= 65535):
        raise ConfigurationError(
            f"PARLOIR_JANUS_RTP_PORT_RANGE must look like 20000-40000, got "
            f"{config.rtp_port_range!r}"
        )
    if config.remote and not (config.tls_cert and config.tls_key and config.api_secret):
        raise ConfigurationError(
            "A Janus API reachable from other machines (PARLOIR_JANUS_LISTEN_IP) needs TLS "
            "(PARLOIR_JANUS_TLS_CERT, PARLOIR_JANUS_TLS_KEY) and PARLOIR_JANUS_API_SECRET"
        )
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigurationError("Set both PARLOIR_JANUS_TLS_CERT and PARLOIR_JANUS_TLS_KEY")
    if not 1 <= config.event_loops <= 256:
        raise ConfigurationError(
            f"PARLOIR_JANUS_EVENT_LOOPS must be between 1 and 256, got {config.event_loops}"
        )
    values = {
        "node_name": _jcfg_string("node name", config.node_name),
        "event_loops": str(int(config.event_loops)),
        "configs_folder": _jcfg_string("output folder", str(out_dir)),
        "lib_dir": _jcfg_string("PARLOIR_JANUS_LIB_DIR", str(config.lib_dir)),
        "debug_level": str(int(config.debug_level)),
        "admin_secret": _jcfg_string("PARLOIR_JANUS_ADMIN_SECRET", config.admin_secret),
        "api_secret_line": (
            f'\tapi_secret = "{_jcfg_string("PARLOIR_JANUS_API_SECRET", config.api_secret)}"'
            if config.api_secret
            else "\t# api_secret: not set (the API only listens on 127.0.0.1)"
        ),
        "interface_line": (
            f'\tinterface = "{_jcfg_string("PARLOIR_JANUS_INTERFACE", config.interface)}"'
            if config.interface
            else "\t# interface: not set, guessed from the default route"
        ),
        "session_timeout": str(int(config.session_timeout)),
        "reclaim_session_timeout": str(int(config.reclaim_session_timeout)),
        "rtp_port_range": config.rtp_port_range,
        "ice_enforce_line": (
            "\tice_enforce_list = "
            f'"{_jcfg_string("PARLOIR_JANUS_ICE_ENFORCE_LIST", config.ice_enforce_list)}"'
            if config.ice_enforce_list
            else "\t# ice_enforce_list: not set, every non-loopback interface is used"
        ),
        "nat_1_1_line": (
            "\tnat_1_1_mapping = "
            f'"{_jcfg_string("PARLOIR_JANUS_NAT_1_1_MAPPING", config.nat_1_1_mapping)}"'
            if config.nat_1_1_mapping
            else "\t# nat_1_1_mapping: not set, host candidates are advertised as they are"
        ),
        "disabled_plugins": _disabled("plugins", config.lib_dir),
        "disabled_transports": _disabled("transports", config.lib_dir),
        "disabled_loggers": _disabled("loggers", config.lib_dir),
        "disabled_events": _disabled("events", config.lib_dir),
        "ws_port": _port("Janus API port", config.ws_port),
        "admin_ws_port": _port("Janus admin API port", config.admin_ws_port),
        "room_admin_key": _jcfg_string("PARLOIR_JANUS_ROOM_ADMIN_KEY", config.room_admin_key),
        "listen_ip": _jcfg_string("PARLOIR_JANUS_LISTEN_IP", config.listen_ip),
        "acl": _jcfg_string("PARLOIR_JANUS_API_ACL", config.api_acl),
        "plain": "false" if config.tls_cert else "true",
        "tls": "true" if config.tls_cert else "false",
        "certificate_lines": (
            f'\tcert_pem = "{_jcfg_string("PARLOIR_JANUS_TLS_CERT", config.tls_cert)}"\n'
            f'\tcert_key = "{_jcfg_string("PARLOIR_JANUS_TLS_KEY", config.tls_key)}"'
            if config.tls_cert
            else "\t# No certificate: the APIs listen on loopback only, in plain WebSocket."
        ),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in JANUS_TEMPLATES:
        path = out_dir / name
        _write(path, _render(f"janus/{name}.tmpl", values))
        written.append(path)
    return written


def render_turn(config: TurnConfig, out_dir: Path) -> Path:
    """Write turnserver.conf into ``out_dir`` and return its path."""
    if not config.allowed_peer_ips:
        raise ConfigurationError(
            "PARLOIR_TURN_ALLOWED_PEER_IPS must list the media nodes' addresses: "
            "the TURN server relays to nothing else"
        )
    if not 0 < config.min_port < config.max_port <= 65535:
        raise ConfigurationError("TURN relay ports must satisfy 0 < min < max <= 65535")

    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigurationError(
            "Set both PARLOIR_TURN_TLS_CERT and PARLOIR_TURN_TLS_KEY, or neither"
        )

    def optional(key: str, env_name: str, value: str) -> str:
        if not value:
            return f"# {key}: not set"
        return f"{key}={_conf_value(env_name, value)}"

    values = {
        "node_name": _conf_value("node name", config.node_name),
        "turn_port": _port("PARLOIR_TURN_PORT", config.port),
        "turn_listening_ip_line": optional(
            "listening-ip", "PARLOIR_TURN_LISTENING_IP", config.listening_ip
        ),
        "turn_relay_ip_line": optional("relay-ip", "PARLOIR_TURN_RELAY_IP", config.relay_ip),
        "turn_external_ip_line": optional(
            "external-ip", "PARLOIR_TURN_EXTERNAL_IP", config.external_ip
        ),
        "turn_min_port": str(config.min_port),
        "turn_max_port": str(config.max_port),
        "turn_secret": _conf_value("PARLOIR_TURN_SECRET", config.secret),
        "turn_realm": _conf_value("PARLOIR_TURN_REALM", config.realm),
        "turn_userdb": _conf_value("PARLOIR_TURN_USERDB", str(config.userdb)),
        "turn_tls_lines": (
            f"tls-listening-port={_port('PARLOIR_TURN_TLS_PORT', config.tls_port)}\n"
            f"cert={_conf_value('PARLOIR_TURN_TLS_CERT', config.tls_cert)}\n"
            f"pkey={_conf_value('PARLOIR_TURN_TLS_KEY', config.tls_key)}"
            if config.tls_cert
            else "# No certificate (PARLOIR_TURN_TLS_CERT): plain TURN only.\nno-tls\nno-dtls"
        ),
        "turn_pidfile_line": optional(
            "pidfile", "pidfile", str(config.pidfile) if config.pidfile else ""
        ),
        "turn_allowed_peer_lines": "\n".join(
            f"allowed-peer-ip={_conf_value('PARLOIR_TURN_ALLOWED_PEER_IPS', ip)}"
            for ip in config.allowed_peer_ips
        ),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TURN_TEMPLATE
    _write(path, _render(f"coturn/{TURN_TEMPLATE}.tmpl", values))
    return path
