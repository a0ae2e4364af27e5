"""parloir deployed on several hosts, as docs/deployment.md describes, inside a Topology.

    lb       HAProxy: TLS on 443 for the site, the web hosts behind it
    web1/2   daphne and every worker (calls, media health, notifications, recordings)
    db       PostgreSQL and Redis, started from Debian's binaries
    media1/2 Janus over wss (API secret, certificate) and the recordings' agent
    turn     coturn: TURN over UDP 3478 and over TLS on 443
    family   the relative's browser;  prison   the kiosk's browser

The shared storage of the recordings (PARLOIR_RECORDINGS_DIR, PARLOIR_RECORDING_SOURCE_STORE)
is a folder every host sees, as an NFS mount would be.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from media.config import TurnConfig, render_turn
from tests.media.harness import HarnessError
from tests.multihost.pki import TestCA
from tests.multihost.topology import Flow, Topology

ROOT = Path(__file__).resolve().parents[2]
SITE = "parloir.test"
HOSTS = ["lb", "web1", "web2", "db", "media1", "media2", "turn", "family", "prison"]
WEB_HOSTS = ("web1", "web2")
MEDIA_HOSTS = ("media1", "media2")
BROWSER_HOSTS = ("family", "prison")
RTP_PORTS = {"media1": "20000-20999", "media2": "21000-21999"}
TURN_RELAY_PORTS = (40000, 40999)
JANUS_API_PORT = 8989
JANUS_ADMIN_PORT = 7989
WEB_PORT = 8000
WORKERS = ("calls_worker", "media_health", "notify_worker", "recordings_worker")


def flows() -> list[Flow]:
    """What each host may reach: nothing else goes through (docs/deployment.md)."""
    allowed = []
    for browser in BROWSER_HOSTS:
        allowed += [
            Flow(browser, "lb", "tcp", "{ 80, 443 }"),
            Flow(browser, "turn", "tcp", "443"),
            Flow(browser, "turn", "udp", "3478"),
        ]
        for media in MEDIA_HOSTS:
            allowed.append(Flow(browser, media, "udp", RTP_PORTS[media]))
    for web in WEB_HOSTS:
        allowed += [
            Flow("lb", web, "tcp", str(WEB_PORT)),
            Flow(web, "db", "tcp", "{ 5432, 6379 }"),
        ]
        for media in MEDIA_HOSTS:
            allowed.append(Flow(web, media, "tcp", f"{{ {JANUS_API_PORT}, {JANUS_ADMIN_PORT} }}"))
    for media in MEDIA_HOSTS:
        allowed.append(Flow("turn", media, "udp", RTP_PORTS[media]))
    return allowed


class Deployment:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.net = Topology(workdir, HOSTS, flows())
        self.ca = TestCA(workdir / "pki")
        self.shared = workdir / "shared"
        self.secrets = {
            name: secrets.token_urlsafe(32)
            for name in (
                "secret_key", "db", "redis", "janus_admin", "room_admin", "janus_api",
                "turn", "master", "audit",
            )
        }  # fmt: skip
        self.site_url = f"https://{SITE}"

    def address(self, host: str) -> str:
        return self.net.address(host)

    # --- environment of each kind of host ------------------------------------------------

    def web_env(self, host: str) -> dict[str, str]:
        db = self.address("db")
        password = urllib.parse.quote(self.secrets["db"], safe="")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "parloir.settings",
                "DATABASE_URL": f"postgres://parloir:{password}@{db}:5432/parloir",
                "REDIS_URL": f"redis://:{urllib.parse.quote(self.secrets['redis'])}@{db}:6379/0",
                "PARLOIR_IN_PROCESS_WORKERS": "0",
                "PARLOIR_SECRET_KEY": self.secrets["secret_key"],
                "PARLOIR_AUDIT_KEY": self.secrets["audit"],
                "PARLOIR_ALLOWED_HOSTS": SITE,
                "PARLOIR_SITE_URL": self.site_url,
                "PARLOIR_CSRF_TRUSTED_ORIGINS": self.site_url,
                "PARLOIR_TRUSTED_PROXIES": self.address("lb"),
                "PARLOIR_PROXY_SSL_HEADER": "X-Forwarded-Proto",
                "PARLOIR_VAR_DIR": str(self.workdir / host / "var"),
                "PARLOIR_OUTBOX_PATH": str(self.shared / "outbox.jsonl"),
                "PARLOIR_RECORDINGS_DIR": str(self.shared / "recordings"),
                "PARLOIR_RECORDINGS_WORK_DIR": str(self.workdir / host / "work"),
                "PARLOIR_RECORDING_SOURCE_STORE": str(self.shared / "sources"),
                "PARLOIR_RECORDING_MASTER_KEY": self.secrets["master"],
                "PARLOIR_RECORDINGS_SETTLE_SECONDS": "1",
                "PARLOIR_JANUS_ADMIN_SECRET": self.secrets["janus_admin"],
                "PARLOIR_JANUS_ROOM_ADMIN_KEY": self.secrets["room_admin"],
                "PARLOIR_JANUS_API_SECRET": self.secrets["janus_api"],
                "PARLOIR_JANUS_CA_FILE": str(self.ca.cert_path),
                "PARLOIR_TURN_SECRET": self.secrets["turn"],
                "PARLOIR_TURN_URLS": (
                    f"turn:{self.address('turn')}:3478?transport=udp,"
                    f"turns:{self.address('turn')}:443?transport=tcp"
                ),
                "PARLOIR_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def media_env(self, host: str) -> dict[str, str]:
        address = self.address(host)
        cert, key = self.workdir / "pki" / f"{host}.pem", self.workdir / "pki" / f"{host}.key"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
        for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
            env.pop(name, None)
        env.update(
            {
                "PARLOIR_NODE_NAME": host,
                "PARLOIR_JANUS_ADMIN_SECRET": self.secrets["janus_admin"],
                "PARLOIR_JANUS_ROOM_ADMIN_KEY": self.secrets["room_admin"],
                "PARLOIR_JANUS_API_SECRET": self.secrets["janus_api"],
                "PARLOIR_JANUS_RECORDING_DIR": str(self.recording_dir(host)),
                "PARLOIR_JANUS_LISTEN_IP": address,
                "PARLOIR_JANUS_API_ACL": ",".join(
                    [*(self.address(web) for web in WEB_HOSTS), address]
                ),
                "PARLOIR_JANUS_TLS_CERT": str(cert),
                "PARLOIR_JANUS_TLS_KEY": str(key),
                "PARLOIR_JANUS_CA_FILE": str(self.ca.cert_path),
                "PARLOIR_JANUS_WS_PORT": str(JANUS_API_PORT),
                "PARLOIR_JANUS_ADMIN_WS_PORT": str(JANUS_ADMIN_PORT),
                "PARLOIR_JANUS_ICE_ENFORCE_LIST": address,
                "PARLOIR_JANUS_INTERFACE": address,
                "PARLOIR_JANUS_RTP_PORT_RANGE": RTP_PORTS[host],
                "PARLOIR_JANUS_SESSION_TIMEOUT": "60",
                "PARLOIR_RECORDING_PUBLIC_KEY": self.recording_public_key,
                "PARLOIR_RECORDING_SOURCE_STORE": str(self.shared / "sources"),
                "PARLOIR_AGENT_INTERVAL_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def recording_dir(self, host: str) -> Path:
        return self.workdir / host / "recordings"

    # --- bringing it up ------------------------------------------------------------------

    def start(self) -> None:
        self.net.create()
        self.shared.mkdir(parents=True, exist_ok=True)
        self.ca.issue(SITE, dns=[SITE])
        self.ca.issue("turn", ips=[self.address("turn")])
        for media in MEDIA_HOSTS:
            self.ca.issue(media, ips=[self.address(media)])
        self.start_database()
        self.start_redis()
        self.manage("web1", "migrate", "--noinput", "-v", "0")
        for web in WEB_HOSTS:
            self.manage(web, "collectstatic", "--noinput", "-v", "0")
        self.recording_public_key = self.manage("web1", "recordings_public_key").strip()
        self.control("web1", "nodes", nodes=self.nodes())
        for media in MEDIA_HOSTS:
            self.start_media(media)
        for web in WEB_HOSTS:
            self.start_web(web)
        self.start_lb()
        self.start_turn()
        self.wait_nodes_up()

    def nodes(self) -> list[dict]:
        return [
            {
                "name": media,
                "ws_url": f"wss://{self.address(media)}:{JANUS_API_PORT}",
                "admin_ws_url": f"wss://{self.address(media)}:{JANUS_ADMIN_PORT}",
                "recording_dir": str(self.recording_dir(media)),
            }
            for media in MEDIA_HOSTS
        ]

    def start_database(self) -> None:
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        # PostgreSQL runs as its own user, who cannot enter pytest's private folders.
        self.db_dir = Path(tempfile.mkdtemp(prefix="parloir-pg-"))
        os.chmod(self.db_dir, 0o755)
        data, sockets = self.db_dir / "pgdata", self.db_dir / "sockets"
        for folder in (self.db_dir, data, sockets):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, *_postgres_ids())
        self.net.run("db", [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                            "postgres", "-E", "UTF8", "--no-sync"], user="postgres")  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            for web in WEB_HOSTS:
                hba.write(f"host parloir parloir {self.address(web)}/32 scram-sha-256\n")
        self.pg_argv = [
            str(bin_dir / "postgres"), "-D", str(data),
            "-c", f"listen_addresses={self.address('db')}",
            "-c", f"unix_socket_directories={sockets}", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        self.pg_sockets = sockets
        self.start_postgres()
        password = self.secrets["db"].replace("'", "''")
        self.psql(f"CREATE ROLE parloir LOGIN PASSWORD '{password}'")
        self.psql("CREATE DATABASE parloir OWNER parloir")

    def start_postgres(self) -> None:
        self.net.spawn("db", "postgres", self.pg_argv, user="postgres")
        self.net.wait_log("db", "postgres", "database system is ready to accept connections")

    def restart_postgres(self) -> None:
        """As an operator would: a fast shutdown (sessions cut, nothing lost), then a start."""
        bin_dir = Path(self.pg_argv[0]).parent
        data = self.db_dir / "pgdata"
        self.net.run("db", [str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                     user="postgres")  # fmt: skip
        self.net.processes.pop(("db", "postgres")).popen.wait(30)
        log = self.net.workdir / "logs" / "db-postgres.log"
        log.write_text(log.read_text(errors="replace") + "\n=== restarted by the test ===\n")
        self.net.spawn("db", "postgres", self.pg_argv, user="postgres")
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            tail = log.read_text(errors="replace").rpartition("=== restarted by the test ===")[2]
            if "database system is ready to accept connections" in tail:
                return
            time.sleep(0.05)
        raise HarnessError(f"PostgreSQL did not come back:\n{self.net.tail('db', 'postgres')}")

    def psql(self, sql: str) -> str:
        return self.net.run(
            "db", ["psql", "-h", str(self.pg_sockets), "-U", "postgres", "-tA", "-c", sql],
            user="postgres",
        )  # fmt: skip

    def start_redis(self) -> None:
        self.net.spawn(
            "db",
            "redis",
            ["redis-server", "--bind", self.address("db"), "--port", "6379", "--save", "",
             "--appendonly", "no", "--requirepass", self.secrets["redis"],
             "--dir", str(self.db_dir)],
        )  # fmt: skip
        self.net.wait_log("db", "redis", "Ready to accept connections")

    def start_media(self, host: str) -> None:
        env = self.media_env(host)
        config = self.workdir / host / "janus"
        python = [sys.executable, "-m", "media.node"]
        self.net.run(host, [*python, "config", "--out", str(config)], env=env, cwd=ROOT)
        self.net.spawn(
            host, "janus", ["janus", "-F", str(config), "-C", str(config / "janus.jcfg")]
        )
        self.net.wait_log(host, "janus", "WebSockets thread started")
        self.net.spawn(host, "agent", [*python, "agent"], env=env, cwd=ROOT)

    def start_web(self, host: str, workers: tuple[str, ...] = WORKERS) -> None:
        env = self.web_env(host)
        self.net.spawn(
            host,
            "web",
            [sys.executable, "-m", "daphne", "-b", self.address(host), "-p", str(WEB_PORT),
             "parloir.asgi:application"],
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for worker in workers:
            self.net.spawn(host, worker, [sys.executable, "manage.py", worker], env=env, cwd=ROOT)
        self.net.wait_log(host, "web", "Listening on TCP address")

    def start_lb(self) -> None:
        template = (ROOT / "deploy" / "haproxy" / "haproxy.cfg.tmpl").read_text()
        servers = "\n".join(
            f"\tserver {web} {self.address(web)}:{WEB_PORT} check" for web in WEB_HOSTS
        )
        self.haproxy_socket = self.workdir / "lb" / "haproxy.sock"
        self.haproxy_socket.parent.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "lb" / "haproxy.cfg"
        config.write_text(
            string.Template(template).substitute(
                stats_socket=str(self.haproxy_socket),
                bind_address=self.address("lb"),
                site_bundle=str(self.workdir / "pki" / f"{SITE}.bundle.pem"),
                site_name=SITE,
                web_servers=servers,
                # Within the machine's limit on open files (HAProxy wants two per connection).
                maxconn=4000,
            )
        )
        self.net.spawn("lb", "haproxy", ["haproxy", "-f", str(config), "-db"])
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            states = self.lb_states()
            if states and all(state == "UP" for state in states.values()):
                return
            time.sleep(0.2)
        raise HarnessError(f"HAProxy never saw its web hosts up:\n{self.net.tail('lb', 'haproxy')}")

    def lb(self, command: str) -> str:
        """A command to HAProxy's runtime API (as an operator draining a web host would)."""
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            try:
                sock.connect(str(self.haproxy_socket))
            except OSError as exc:
                raise HarnessError(f"HAProxy's runtime API: {exc}") from exc
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def lb_states(self) -> dict[str, str]:
        """Each web host's status as HAProxy's health checks see it (UP only once a check
        passed: HAProxy starts by trusting its servers)."""
        if not self.haproxy_socket.exists():
            return {}
        try:
            out = self.lb("show stat")
        except HarnessError:
            return {}
        lines = [line for line in out.splitlines() if line]
        if not lines:
            return {}
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "web" and row.get("svname") not in ("BACKEND", None):
                passed = row.get("check_status") == "L7OK"
                states[row["svname"]] = "UP" if passed and row.get("status") == "UP" else "DOWN"
        return states

    def start_turn(self) -> None:
        address = self.address("turn")
        config = TurnConfig(
            node_name="turn",
            secret=self.secrets["turn"],
            realm="parloir.test",
            userdb=self.workdir / "turn" / "turndb",
            allowed_peer_ips=tuple(self.address(media) for media in MEDIA_HOSTS),
            port=3478,
            listening_ip=address,
            relay_ip=address,
            min_port=TURN_RELAY_PORTS[0],
            max_port=TURN_RELAY_PORTS[1],
            tls_cert=str(self.workdir / "pki" / "turn.pem"),
            tls_key=str(self.workdir / "pki" / "turn.key"),
            tls_port=443,
            pidfile=self.workdir / "turn" / "turnserver.pid",
        )
        path = render_turn(config, self.workdir / "turn" / "etc")
        self.net.spawn("turn", "coturn", ["turnserver", "-c", str(path)], cwd=self.workdir / "turn")
        self.net.wait_log("turn", "coturn", "Total General servers")

    def wait_nodes_up(self, timeout: float = 30) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            nodes = self.control("web1", "node_states")
            if all(state == "up" for state in nodes.values()):
                return
            time.sleep(0.3)
        raise HarnessError(f"Media nodes not up: {nodes}\n{self.net.tail('web1', 'media_health')}")

    # --- talking to it ---------------------------------------------------------------------

    def manage(self, host: str, *args: str) -> str:
        return self.net.run(host, [sys.executable, "manage.py", *args], env=self.web_env(host),
                            cwd=ROOT)  # fmt: skip

    def control(self, host: str, command: str, **arguments):
        """tests.multihost.control on a web host: what staff or a test would set up or read,
        through parloir's own code and its database."""
        out = self.net.run(
            host,
            [sys.executable, "-m", "tests.multihost.control", command, json.dumps(arguments)],
            env=self.web_env(host),
            cwd=ROOT,
        )
        return json.loads(out.strip().splitlines()[-1])

    def outbox_count(self) -> int:
        path = self.shared / "outbox.jsonl"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def stop(self) -> None:
        self.net.delete()
        if getattr(self, "db_dir", None):
            shutil.rmtree(self.db_dir, ignore_errors=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid
