"""The client frames of the call WebSocket, validated before anything acts on them.

docs/signaling.md documents them; a test checks every frame type there has a schema here.
"""

import json
from typing import Any

import jsonschema

from parloir.events import check

MAX_FRAME_BYTES = 64 * 1024  # an SDP with many candidates is ~10 KB
MAX_FRAMES_PER_SECOND = 40  # trickled candidates arrive in bursts
RATE_BURST = 80

_SDP = {"type": "string", "minLength": 10, "maxLength": 60000}
_CANDIDATE = {
    "type": ["object", "null"],
    "properties": {
        "candidate": {"type": "string", "maxLength": 1000},
        "sdpMid": {"type": ["string", "null"], "maxLength": 64},
        "sdpMLineIndex": {"type": ["integer", "null"], "minimum": 0, "maximum": 64},
        "usernameFragment": {"type": ["string", "null"], "maxLength": 256},
    },
    "required": ["candidate"],
    "additionalProperties": False,
}


def _frame(frame_type: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"const": frame_type}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


CLIENT_FRAMES: dict[str, dict[str, Any]] = {
    "hello": _frame(
        "hello",
        {
            "call": {"type": "integer", "minimum": 1},
            "resume": {"type": ["string", "null"], "maxLength": 64},
            "media_alive": {"type": "boolean"},
        },
        ["call"],
    ),
    "publish": _frame("publish", {"sdp": _SDP}, ["sdp"]),
    "answer": _frame("answer", {"sdp": _SDP}, ["sdp"]),
    "candidate": _frame(
        "candidate",
        {"pc": {"enum": ["publisher", "subscriber"]}, "candidate": _CANDIDATE},
        ["pc", "candidate"],
    ),
    "leave": _frame("leave", {}, []),
    "bandwidth": _frame("bandwidth", {"low": {"type": "boolean"}}, ["low"]),
    "ping": _frame("ping", {"id": {"type": "integer"}}, []),
}


class BadFrame(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(text: str | None, binary: bytes | None) -> dict[str, Any]:
    if binary is not None:
        raise BadFrame("binary_frame", "Binary frames are not part of the protocol.")
    if not text:
        raise BadFrame("empty_frame", "Empty frame.")
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise BadFrame("frame_too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
    try:
        frame = json.loads(text)
    except ValueError:
        raise BadFrame("invalid_json", "The frame is not valid JSON.") from None
    except RecursionError:
        # Some 30,000 nested brackets fit in the size limit; no frame of ours nests.
        raise BadFrame("invalid_frame", "The frame nests too deeply.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("invalid_frame", "A frame is a JSON object with a string 'type'.")
    schema = CLIENT_FRAMES.get(frame["type"])
    if schema is None:
        raise BadFrame("unknown_type", f"Unknown frame type {frame['type']!r}.")
    try:
        check(frame, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "frame"
        raise BadFrame("invalid_frame", f"{where}: {exc.message}"[:300]) from None
    return frame


class TokenBucket:
    """Frames per connection: a burst is fine, a flood is refused."""

    def __init__(self, rate: float = MAX_FRAMES_PER_SECOND, burst: int = RATE_BURST) -> None:
        self.rate = rate
        self.capacity = burst
        self.tokens = float(burst)
        self.stamp: float | None = None

    def take(self, now: float) -> bool:
        if self.stamp is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
