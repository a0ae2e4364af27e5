"""The chain's head, written outside the database after each commit.

The rows are sealed with a key the database does not hold (audit/log.py), so nobody with
only database access can forge or reorder them; but such a person could still cut the
tail and set the head back. Each committed event's sequence number and seal are therefore
appended to a file (make it append-only: `chattr +a`, or a volume that only grows) and,
if configured, sent to syslog, where the database cannot reach. `audit_verify` compares
them with the rows. Each line carries its own seal, so a line typed in by hand is told
apart from a real one.
"""

import hashlib
import hmac
import logging
import logging.handlers
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

logger = logging.getLogger("parloir.audit")


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    genuine: bool


def _seal(key: bytes, seq: int, row_hash: str) -> str:
    return hmac.new(key, f"anchor|{seq}|{row_hash}".encode(), hashlib.sha256).hexdigest()


def line(key: bytes, seq: int, row_hash: str) -> str:
    return f"{seq} {row_hash} {_seal(key, seq, row_hash)}\n"


def append(key: bytes, seq: int, row_hash: str) -> None:
    """Append one anchor; never raises, since the event is already committed."""
    text = line(key, seq, row_hash)
    path = Path(settings.AUDIT_ANCHOR_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One write() of one short line with O_APPEND: lines from several processes
        # never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError:
        logger.exception("Could not append the audit anchor #%s to %s", seq, path)
    if settings.AUDIT_ANCHOR_SYSLOG:
        _syslog().info("parloir-audit-anchor %s", text.strip())


_handler_logger: logging.Logger | None = None


def _syslog() -> logging.Logger:
    global _handler_logger
    if _handler_logger is None:
        target = settings.AUDIT_ANCHOR_SYSLOG
        if target.startswith("/"):
            address: str | tuple[str, int] = target
        else:
            host, _sep, port = target.rpartition(":")
            address = (host or target, int(port) if port.isdigit() else 514)
        handler = logging.handlers.SysLogHandler(address=address)
        handler.setFormatter(logging.Formatter("%(message)s"))
        _handler_logger = logging.getLogger("parloir.audit.anchor")
        _handler_logger.propagate = False
        _handler_logger.addHandler(handler)
        _handler_logger.setLevel(logging.INFO)
    return _handler_logger


def read(keys: dict[str, bytes]) -> list[Anchor]:
    """Every anchor in the file, each told genuine if one of ``keys`` sealed it."""
    path = Path(settings.AUDIT_ANCHOR_FILE)
    if not path.exists():
        return []
    anchors = []
    for raw in path.read_text(errors="replace").splitlines():
        parts = raw.split()
        if len(parts) != 3 or not parts[0].isdigit():
            anchors.append(Anchor(0, "", False))
            continue
        seq, row_hash, seal = int(parts[0]), parts[1], parts[2]
        genuine = any(hmac.compare_digest(_seal(key, seq, row_hash), seal) for key in keys.values())
        anchors.append(Anchor(seq, row_hash, genuine))
    return anchors
