"""Kannel: its configuration (from deploy/kannel/), the signed delivery-report URL, and
the processes scripts/run starts when parloir manages Kannel itself."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings

from parloir.env import ConfigurationError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "deploy" / "kannel"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"


def dlr_signature(message_id: int, attempt: int) -> str:
    """Kannel can only call a URL back: each URL carries its own MAC, so one that leaks
    (a log line) can report on nothing but its own message and attempt."""
    token = settings.KANNEL_DLR_TOKEN
    if not token:
        raise ConfigurationError("PARLOIR_KANNEL_DLR_TOKEN is required for the kannel backend")
    key = hmac.new(token.encode(), b"parloir.kannel-dlr.v1", hashlib.sha256).digest()
    return hmac.new(key, f"{message_id}:{attempt}".encode(), hashlib.sha256).hexdigest()[:32]


def dlr_url(message_id: int, attempt: int) -> str:
    """The URL Kannel calls for each delivery report; it fills in %d (type) and %A (reply)."""
    query = urlencode({"m": message_id, "a": attempt, "s": dlr_signature(message_id, attempt)})
    base = settings.KANNEL_DLR_BASE_URL.rstrip("/")
    return f"{base}/notify/kannel/dlr?{query}&t=%d&r=%A"


@dataclass(frozen=True)
class KannelConfig:
    username: str
    password: str
    admin_port: int
    smsbox_port: int
    sendsms_port: int
    log_dir: Path
    store_file: Path
    smsc_kind: str = "fake"  # fake (tests, demos) or smpp (an operator)
    smsc_port: int = 0
    smsc_host: str = ""
    smsc_username: str = ""
    smsc_password: str = ""
    smsc_system_type: str = ""
    throughput: int = 10
    admin_password: str = ""


def _quoted(name: str, value: str) -> str:
    if '"' in value or "\\" in value or any(ord(char) < 0x20 for char in value):
        raise ConfigurationError(f"{name} must not contain quotes, backslashes or control chars")
    return value


def _port(name: str, value: int) -> str:
    if not 1 <= value <= 65535:
        raise ConfigurationError(f"{name} must be a TCP port, got {value}")
    return str(value)


def render(config: KannelConfig, path: Path) -> Path:
    """Write kannel.conf for ``config`` at ``path`` (mode 600: it holds passwords)."""
    if config.smsc_kind not in ("fake", "smpp"):
        raise ConfigurationError(
            f"PARLOIR_KANNEL_SMSC must be fake or smpp, not {config.smsc_kind}"
        )
    if config.smsc_kind == "smpp" and not config.smsc_host:
        raise ConfigurationError(
            "PARLOIR_KANNEL_SMSC_HOST is required with PARLOIR_KANNEL_SMSC=smpp"
        )
    values = {
        "admin_port": _port("admin port", config.admin_port),
        "smsbox_port": _port("smsbox port", config.smsbox_port),
        "sendsms_port": _port("sendsms port", config.sendsms_port),
        "smsc_port": _port("SMSC port", config.smsc_port),
        "admin_password": _quoted("admin password", config.admin_password or secrets.token_hex(16)),
        "username": _quoted("PARLOIR_KANNEL_USERNAME", config.username),
        "password": _quoted("PARLOIR_KANNEL_PASSWORD", config.password),
        "log_dir": _quoted("log dir", str(config.log_dir)),
        "store_file": _quoted("store file", str(config.store_file)),
        "smsc_kind": config.smsc_kind,
        "smsc_host": _quoted("PARLOIR_KANNEL_SMSC_HOST", config.smsc_host),
        "smsc_username": _quoted("PARLOIR_KANNEL_SMSC_USERNAME", config.smsc_username),
        "smsc_password": _quoted("PARLOIR_KANNEL_SMSC_PASSWORD", config.smsc_password),
        "smsc_system_type": _quoted("PARLOIR_KANNEL_SMSC_SYSTEM_TYPE", config.smsc_system_type),
        "throughput": str(max(1, config.throughput)),
    }
    text = string.Template((TEMPLATE_DIR / "kannel.conf.tmpl").read_text()).substitute(values)
    text += string.Template(
        (TEMPLATE_DIR / f"smsc-{config.smsc_kind}.tmpl").read_text()
    ).substitute(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
    return path


def config_from_settings() -> KannelConfig:
    base = settings.KANNEL_PORT_BASE
    if not settings.KANNEL_PASSWORD:
        raise ConfigurationError("PARLOIR_KANNEL_PASSWORD is required for the kannel backend")
    root = Path(settings.VAR_DIR) / "kannel"
    return KannelConfig(
        username=settings.KANNEL_USERNAME,
        password=settings.KANNEL_PASSWORD,
        admin_port=base,
        smsbox_port=base + 1,
        smsc_port=settings.KANNEL_SMSC_PORT if settings.KANNEL_SMSC == "smpp" else base + 2,
        sendsms_port=base + 13,
        log_dir=root / "log",
        store_file=root / "store",
        smsc_kind=settings.KANNEL_SMSC,
        smsc_host=settings.KANNEL_SMSC_HOST,
        smsc_username=settings.KANNEL_SMSC_USERNAME,
        smsc_password=settings.KANNEL_SMSC_PASSWORD or "",
        smsc_system_type=settings.KANNEL_SMSC_SYSTEM_TYPE,
        throughput=settings.SMPP_MAX_PER_SECOND,
    )


def missing_binaries(fake: bool) -> list[str]:
    missing = [name for name in ("bearerbox", "smsbox") if shutil.which(name) is None]
    if fake and not Path(FAKESMSC).exists():
        missing.append(FAKESMSC)
    return missing


def managed_processes() -> list[tuple[str, list[str]]]:
    """bearerbox and smsbox (and fakesmsc for a demo) for scripts/run, when parloir sends
    SMS through a Kannel it manages (PARLOIR_KANNEL_MANAGED=1)."""
    if settings.SMS_BACKEND != "kannel" or not settings.KANNEL_MANAGED:
        return []
    config = config_from_settings()
    fake = config.smsc_kind == "fake"
    missing = missing_binaries(fake)
    if missing:
        raise ConfigurationError(
            f"Kannel is managed but {', '.join(missing)} is missing: "
            "apt-get install kannel" + (" kannel-extras" if fake else "")
        )
    path = render(config, Path(settings.VAR_DIR) / "kannel" / "kannel.conf")
    # A plain script (no Django): it runs from any working directory.
    launcher = [sys.executable, str(Path(__file__).resolve().parent / "kannel_launch.py")]
    processes = [
        ("kannel-bearerbox", [*launcher, "bearerbox", str(path)]),
        ("kannel-smsbox", [*launcher, "smsbox", str(path), str(config.smsbox_port)]),
    ]
    if fake:
        processes.append(
            ("kannel-fakesmsc", [*launcher, "fakesmsc", str(path), str(config.smsc_port)])
        )
    return processes
