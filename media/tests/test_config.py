import os
import stat
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from media.config import JanusNodeConfig, TurnConfig, render_janus, render_turn
from media.models import MediaNode
from parloir.env import ConfigurationError


def _janus_config(tmp_path: Path, **overrides) -> JanusNodeConfig:
    values = {
        "node_name": "node-a",
        "admin_secret": "admin-secret",
        "room_admin_key": "room-key",
        "recording_dir": tmp_path / "rec",
        "lib_dir": Path("/usr/lib/x86_64-linux-gnu/janus"),
    }
    return JanusNodeConfig(**{**values, **overrides})


def _setting(text: str, key: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith(f"{key} =")]
    return line.split("=", 1)[1].strip()


def test_it_renders_the_three_janus_files_locked_to_localhost(tmp_path):
    paths = render_janus(
        _janus_config(tmp_path, ice_enforce_list="10.99.0.1", nat_1_1_mapping="203.0.113.7"),
        tmp_path / "etc",
    )
    assert [p.name for p in paths] == [
        "janus.jcfg",
        "janus.transport.websockets.jcfg",
        "janus.plugin.videoroom.jcfg",
    ]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # they hold secrets
        assert "${" not in path.read_text()
    core, transport, videoroom = (p.read_text() for p in paths)

    assert _setting(core, "admin_secret") == '"admin-secret"'
    assert _setting(core, "ice_enforce_list") == '"10.99.0.1"'
    assert _setting(core, "nat_1_1_mapping") == '"203.0.113.7"'
    assert _setting(core, "ignore_mdns") == "true"
    # A pool of media threads that parloir picks from for each call's handles.
    assert _setting(core, "event_loops") == str(os.cpu_count())
    assert _setting(core, "allow_loop_indication") == "true"
    assert "stun_server" not in core.replace("# No stun_server", "")
    assert _setting(core, "configs_folder") == f'"{(tmp_path / "etc").resolve()}"'
    plugins = core.split("plugins: {")[1].split("}")[0]
    disabled_plugins = _setting(plugins, "disable").strip('"').split(",")
    assert "libjanus_videoroom.so" not in disabled_plugins
    assert {"libjanus_echotest.so", "libjanus_streaming.so", "libjanus_sip.so"} <= set(
        disabled_plugins
    )
    transports = core.split("transports: {")[1].split("}")[0]
    assert "libjanus_http.so" in transports and "libjanus_websockets.so" not in transports

    assert _setting(transport, "ws_ip") == '"127.0.0.1"'
    assert _setting(transport, "admin_ws_ip") == '"127.0.0.1"'
    assert _setting(transport, "ws_acl") == '"127."'
    assert _setting(transport, "admin_ws_acl") == '"127."'
    assert (_setting(transport, "ws_port"), _setting(transport, "admin_ws_port")) == (
        "8188",
        "7188",
    )
    assert _setting(videoroom, "admin_key") == '"room-key"'
    assert _setting(videoroom, "lock_rtp_forward") == "true"


def test_it_leaves_optional_nat_settings_out(tmp_path):
    (core, *_) = render_janus(_janus_config(tmp_path), tmp_path / "etc")
    text = core.read_text()
    for key in ("ice_enforce_list", "nat_1_1_mapping", "api_secret", "interface"):
        assert not [line for line in text.splitlines() if line.strip().startswith(f"{key} =")]


def test_it_escapes_secrets_and_refuses_control_characters(tmp_path):
    (core, *_) = render_janus(_janus_config(tmp_path, admin_secret='a"b\\c'), tmp_path / "etc")
    assert _setting(core.read_text(), "admin_secret") == '"a\\"b\\\\c"'
    with pytest.raises(ConfigurationError, match="PARLOIR_JANUS_ROOM_ADMIN_KEY"):
        render_janus(_janus_config(tmp_path, room_admin_key="x\ny"), tmp_path / "etc")
    with pytest.raises(ConfigurationError, match="required"):
        render_janus(_janus_config(tmp_path, admin_secret=""), tmp_path / "etc")
    with pytest.raises(ConfigurationError, match="RTP_PORT_RANGE"):
        render_janus(_janus_config(tmp_path, rtp_port_range="40000-20000"), tmp_path / "etc")
    with pytest.raises(ConfigurationError, match="different ports"):
        render_janus(_janus_config(tmp_path, admin_ws_port=8188), tmp_path / "etc")


def _turn_config(tmp_path: Path, **overrides) -> TurnConfig:
    values = {
        "node_name": "node-a",
        "secret": "turn-secret",
        "realm": "parloir.example",
        "userdb": tmp_path / "turndb",
        "allowed_peer_ips": ("192.0.2.10",),
        "relay_ip": "192.0.2.20",
    }
    return TurnConfig(**{**values, **overrides})


def test_it_renders_a_coturn_config_that_relays_only_to_media_nodes(tmp_path):
    text = render_turn(_turn_config(tmp_path), tmp_path).read_text()
    lines = text.splitlines()
    assert "use-auth-secret" in lines
    assert "static-auth-secret=turn-secret" in lines
    assert "realm=parloir.example" in lines
    assert f"userdb={tmp_path / 'turndb'}" in lines
    assert "relay-ip=192.0.2.20" in lines
    assert "allowed-peer-ip=192.0.2.10" in lines
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in lines
    assert "# listening-ip: not set" in lines


def test_it_refuses_a_coturn_config_that_could_relay_anywhere(tmp_path):
    with pytest.raises(ConfigurationError, match="ALLOWED_PEER_IPS"):
        render_turn(_turn_config(tmp_path, allowed_peer_ips=()), tmp_path)
    with pytest.raises(ConfigurationError, match="PARLOIR_TURN_SECRET"):
        render_turn(_turn_config(tmp_path, secret="two words"), tmp_path)


@pytest.mark.django_db
def test_it_renders_a_nodes_files_with_the_management_command(tmp_path, settings):
    settings.JANUS_ADMIN_SECRET = "admin-from-env"
    settings.JANUS_ROOM_ADMIN_KEY = "room-key-from-env"
    settings.JANUS_ICE_ENFORCE_LIST = "eth1"
    settings.TURN_SECRET = "turn-from-env"
    settings.TURN_ALLOWED_PEER_IPS = ["192.0.2.10"]
    MediaNode.objects.create(
        name="node-b",
        ws_url="ws://127.0.0.1:8190",
        admin_ws_url="ws://127.0.0.1:7190",
        recording_dir=str(tmp_path / "recordings"),
    )
    call_command("media_config", "--node", "node-b", "--out", str(tmp_path / "out"))

    core = (tmp_path / "out" / "janus.jcfg").read_text()
    transport = (tmp_path / "out" / "janus.transport.websockets.jcfg").read_text()
    assert _setting(core, "admin_secret") == '"admin-from-env"'
    assert _setting(core, "ice_enforce_list") == '"eth1"'
    assert _setting(transport, "ws_port") == "8190"  # from the node's URLs
    assert _setting(transport, "admin_ws_port") == "7190"
    assert "static-auth-secret=turn-from-env" in (tmp_path / "out" / "turnserver.conf").read_text()
    assert (tmp_path / "recordings").is_dir()


@pytest.mark.django_db
def test_it_explains_what_is_missing(tmp_path, settings):
    settings.JANUS_ADMIN_SECRET = None
    with pytest.raises(CommandError, match="No media node named 'ghost'"):
        call_command("media_config", "--node", "ghost", "--out", str(tmp_path))
    MediaNode.objects.create(
        name="node-c",
        ws_url="ws://127.0.0.1:8188",
        admin_ws_url="ws://127.0.0.1:7188",
        recording_dir=str(tmp_path / "recordings"),
    )
    with pytest.raises(Exception, match="PARLOIR_JANUS_ADMIN_SECRET"):
        call_command("media_config", "--node", "node-c", "--out", str(tmp_path))


def test_it_enables_turn_over_tls_only_with_a_certificate(tmp_path):
    plain = render_turn(_turn_config(tmp_path), tmp_path / "plain").read_text().splitlines()
    assert "no-tls" in plain and not [line for line in plain if line.startswith("cert=")]
    tls = render_turn(
        _turn_config(tmp_path, tls_cert="/etc/ssl/turn.pem", tls_key="/etc/ssl/turn.key"),
        tmp_path / "tls",
    ).read_text()
    assert {"tls-listening-port=5349", "cert=/etc/ssl/turn.pem", "pkey=/etc/ssl/turn.key"} <= set(
        tls.splitlines()
    )
    assert "no-tls" not in tls.splitlines()
    with pytest.raises(ConfigurationError, match="both"):
        render_turn(_turn_config(tmp_path, tls_cert="/etc/ssl/turn.pem"), tmp_path)


def test_it_refuses_a_pool_of_media_threads_out_of_range(tmp_path):
    (core, *_) = render_janus(_janus_config(tmp_path, event_loops=8), tmp_path / "etc")
    assert _setting(core.read_text(), "event_loops") == "8"
    for wrong in (0, -1, 1000):
        with pytest.raises(ConfigurationError, match="PARLOIR_JANUS_EVENT_LOOPS"):
            render_janus(_janus_config(tmp_path, event_loops=wrong), tmp_path / "etc")


def test_a_janus_reachable_from_other_hosts_needs_tls_and_the_api_secret(tmp_path):
    remote = {"listen_ip": "10.77.5.2", "api_acl": "10.77.2.2,10.77.3.2"}
    with pytest.raises(ConfigurationError, match="TLS"):
        render_janus(_janus_config(tmp_path, **remote), tmp_path / "etc")
    with pytest.raises(ConfigurationError, match="API_SECRET"):
        render_janus(
            _janus_config(tmp_path, tls_cert="/c.pem", tls_key="/k.pem", **remote),
            tmp_path / "etc",
        )
    paths = render_janus(
        _janus_config(
            tmp_path, tls_cert="/c.pem", tls_key="/k.pem", api_secret="api-secret", **remote
        ),
        tmp_path / "etc",
    )
    transport = paths[1].read_text()
    assert _setting(transport, "ws") == "false" and _setting(transport, "admin_ws") == "false"
    assert _setting(transport, "wss") == "true" and _setting(transport, "admin_wss") == "true"
    assert _setting(transport, "wss_ip") == '"10.77.5.2"'
    assert _setting(transport, "ws_acl") == '"10.77.2.2,10.77.3.2"'
    assert _setting(transport, "cert_pem") == '"/c.pem"'
    assert _setting(paths[0].read_text(), "api_secret") == '"api-secret"'


def test_a_media_host_renders_its_configuration_without_parloirs_settings(tmp_path):
    """`python -m media.node config` runs where there is no database nor SECRET_KEY."""
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "PARLOIR_NODE_NAME": "media-1",
        "PARLOIR_JANUS_ADMIN_SECRET": "a" * 20,
        "PARLOIR_JANUS_ROOM_ADMIN_KEY": "r" * 20,
        "PARLOIR_JANUS_API_SECRET": "s" * 20,
        "PARLOIR_JANUS_RECORDING_DIR": str(tmp_path / "rec"),
        "PARLOIR_JANUS_LISTEN_IP": "10.77.5.2",
        "PARLOIR_JANUS_API_ACL": "10.77.2.2",
        "PARLOIR_JANUS_TLS_CERT": "/etc/parloir/tls/media-1.pem",
        "PARLOIR_JANUS_TLS_KEY": "/etc/parloir/tls/media-1.key",
        "PARLOIR_JANUS_NAT_1_1_MAPPING": "203.0.113.9",
        "PARLOIR_JANUS_RTP_PORT_RANGE": "30000-30999",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "media.node", "config", "--out", str(tmp_path / "etc")],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    janus = (tmp_path / "etc" / "janus.jcfg").read_text()
    assert _setting(janus, "nat_1_1_mapping") == '"203.0.113.9"'
    assert _setting(janus, "rtp_port_range") == '"30000-30999"'
    assert (tmp_path / "rec").is_dir()
    missing = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "media.node", "config", "--out", str(tmp_path / "x")],
        env={**env, "PARLOIR_JANUS_API_SECRET": ""},
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert missing.returncode == 2 and "API_SECRET" in missing.stderr


def test_a_turn_host_renders_its_configuration_without_parloirs_settings(tmp_path):
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "PARLOIR_TURN_SECRET": "t" * 30,
        "PARLOIR_TURN_REALM": "parloir.example.org",
        "PARLOIR_TURN_USERDB": str(tmp_path / "turndb"),
        "PARLOIR_TURN_ALLOWED_PEER_IPS": "192.0.2.21,192.0.2.22",
        "PARLOIR_TURN_LISTENING_IP": "192.0.2.30",
        "PARLOIR_TURN_RELAY_IP": "192.0.2.30",
        "PARLOIR_TURN_TLS_CERT": "/etc/parloir/turn/turn.pem",
        "PARLOIR_TURN_TLS_KEY": "/etc/parloir/turn/turn.key",
        "PARLOIR_TURN_TLS_PORT": "443",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "media.node", "turn-config", "--out", str(tmp_path / "etc")],
        env=env, capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "etc" / "turnserver.conf").read_text()
    assert "tls-listening-port=443" in text
    assert "allowed-peer-ip=192.0.2.21" in text and "allowed-peer-ip=192.0.2.22" in text
