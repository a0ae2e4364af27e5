"""Event types sent about calls, with their schemas (see docs/signaling.md)."""

from parloir.events import register, send_event

register(
    "call.state",
    {
        "call": {"type": "integer"},
        "state": {"type": "string"},
        "end_reason": {"type": "string"},
        "end_reason_label": {"type": "string"},
        "deadline": {"type": ["string", "null"]},
        "seconds_left": {"type": ["integer", "null"]},
    },
    ["call", "state", "end_reason", "deadline", "seconds_left"],
)
register(
    "call.notice",
    {
        "call": {"type": "integer"},
        "text": {"type": "string", "maxLength": 300},
        "by": {"type": "string"},
    },
    ["call", "text"],
)
register(
    "call.code",
    {
        "call": {"type": "integer"},
        "expires_at": {"type": "string"},
        "message_status": {"type": "string"},
        "channel": {"type": "string"},
    },
    ["call", "expires_at", "message_status", "channel"],
)


def call_group(call_id: int) -> str:
    return f"call.{call_id}"


def establishment_group(establishment_id: int) -> str:
    return f"establishment.{establishment_id}"


def end_reason_label(call) -> str:
    """What both sides read when the call ends; for an interruption, its category only."""
    if not call.end_reason:
        return ""
    label = str(call.get_end_reason_display())
    if call.end_reason == call.EndReason.STAFF and call.end_detail in call.InterruptCategory.values:
        label = f"{label} : {call.InterruptCategory(call.end_detail).label}"
    return label


def state_event(call) -> dict:
    return {
        "type": "call.state",
        "call": call.pk,
        "state": call.state,
        "end_reason": call.end_reason,
        "end_reason_label": end_reason_label(call),
        "deadline": call.deadline.isoformat() if call.deadline else None,
        "seconds_left": call.seconds_left(),
    }


def broadcast_state(call, establishment_id: int) -> None:
    send_event([call_group(call.pk), establishment_group(establishment_id)], state_event(call))


__all__ = ["broadcast_state", "call_group", "establishment_group", "send_event", "state_event"]
