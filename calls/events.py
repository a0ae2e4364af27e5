"""Event types sent about calls, with their schemas (see docs/signaling.md)."""

from django.utils.translation import gettext

from parloir.events import register, send_event

register(
    "call.state",
    {
        "call": {"type": "integer"},
        "state": {"type": "string"},
        "end_reason": {"type": "string"},
        "end_reason_label": {"type": "string"},
        "end_category": {"type": "string"},
        "deadline": {"type": ["string", "null"]},
        "seconds_left": {"type": ["integer", "null"]},
        # The call's media are down by the platform's fault: its clock stands still
        # (the seconds are given back once the media are back).
        "media_outage": {"type": "boolean"},
        "given_back_seconds": {"type": "integer", "minimum": 0},
        "lost_seconds": {"type": "integer", "minimum": 0},
        # The relatives the call reaches, in the booking's order, and whether each is
        # still expected or out of it (refused, left, removed by staff).
        "relatives": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "relative": {"type": "integer", "minimum": 0, "maximum": 3},
                    "name": {"type": "string"},
                    "status": {"enum": ["expected", "refused", "left", "removed"]},
                },
                "required": ["relative", "name", "status"],
                "additionalProperties": False,
            },
        },
    },
    ["call", "state", "end_reason", "deadline", "seconds_left"],
)
register(
    "call.notice",
    {
        "call": {"type": "integer"},
        "text": {"type": "string", "maxLength": 300},
        "preset": {"type": "string"},
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
        # Which relative the code went to (their place in the booking, 0 to 3).
        "relative": {"type": "integer", "minimum": 0, "maximum": 3},
    },
    ["call", "expires_at", "message_status", "channel"],
)

register(
    "call.peer",
    {
        "call": {"type": "integer"},
        "role": {"enum": ["kiosk", "relative"]},
        "status": {"enum": ["media_up", "left", "back", "low_bandwidth", "normal_bandwidth"]},
        # For "left": the page closed ("closed"), or its media stopped while it was
        # open ("network").
        "reason": {"enum": ["closed", "network", ""]},
        "feed": {"type": ["integer", "null"]},
        # A relative's media: which relative (0 to 3); null for the kiosk's.
        "relative": {"type": ["integer", "null"], "minimum": 0, "maximum": 3},
    },
    ["call", "role", "status", "feed"],
)

# One relative is out of the call, which goes on for the others: they refused a text
# ("refused"), hung up ("left") or staff removed them ("removed"). Between the call's
# sockets only: their page leaves, the others show them gone, and the kiosk's process
# destroys their media session should their page be away.
register(
    "call.relative_out",
    {
        "call": {"type": "integer"},
        "relative": {"type": "integer", "minimum": 0, "maximum": 3},
        "why": {"enum": ["refused", "left", "removed"]},
        "feed": {"type": ["integer", "null"]},
        "janus_session": {"type": ["integer", "null"]},
    },
    ["call", "relative", "why", "feed", "janus_session"],
)

# The call's room is gone ("restart": its pages must set their media up again, in a
# new room, the ``epoch``-th), a media node is back for a call that had none
# ("available"), or Janus began recording the room ("recording": each publisher sends a
# keyframe). Between the call's sockets only.
register(
    "call.media",
    {
        "call": {"type": "integer"},
        "status": {"enum": ["restart", "available", "recording"]},
        "reason": {"type": "string", "maxLength": 40},
        "epoch": {"type": "integer", "minimum": 0},
    },
    ["call", "status", "reason", "epoch"],
)

# Between the call's sockets only, never sent to a browser: a side's page attached through
# ``channel`` as ``participant`` (its ``attachment``-th page), and any socket of that side
# attached before it must close.
register(
    "call.attached",
    {
        "call": {"type": "integer"},
        "role": {"enum": ["kiosk", "relative"]},
        "relative": {"type": ["integer", "null"], "minimum": 0, "maximum": 3},
        "channel": {"type": "string", "minLength": 1},
        "participant": {"type": "integer"},
        "attachment": {"type": "integer", "minimum": 1},
    },
    ["call", "role", "channel", "participant", "attachment"],
)


def call_group(call_id: int) -> str:
    return f"call.{call_id}"


def establishment_group(establishment_id: int) -> str:
    return f"establishment.{establishment_id}"


def end_category(call) -> str:
    """An interruption's category (never its free-text detail, which is for staff)."""
    if call.end_reason == call.EndReason.STAFF and call.end_detail in call.InterruptCategory.values:
        return call.end_detail
    return ""


def end_label(end_reason: str, category: str = "") -> str:
    """Why a call ended, in the active language: each side reads it in its own."""
    from calls.models import Call

    if end_reason not in Call.EndReason.values:
        return ""
    label = str(Call.EndReason(end_reason).label)
    if category in Call.InterruptCategory.values:
        label = gettext("%(reason)s : %(category)s") % {
            "reason": label,
            "category": Call.InterruptCategory(category).label,
        }
    return label


def end_reason_label(call) -> str:
    return end_label(call.end_reason, end_category(call))


def state_event(call) -> dict:
    return {
        "type": "call.state",
        "call": call.pk,
        "state": call.state,
        "end_reason": call.end_reason,
        "end_reason_label": end_reason_label(call),
        "end_category": end_category(call),
        "deadline": call.deadline.isoformat() if call.deadline else None,
        "seconds_left": call.seconds_left(),
        "media_outage": call.is_open and call.outages.filter(ended_at__isnull=True).exists(),
        "given_back_seconds": call.given_back_seconds,
        "lost_seconds": call.lost_seconds,
        "relatives": relatives_of(call),
    }


def relatives_of(call) -> list[dict]:
    def status(leg) -> str:
        if leg.removed_at:
            return "removed"
        if leg.left_at:
            return "left"
        return "refused" if leg.refused_at else "expected"

    return [
        {
            "relative": leg.position,
            "name": leg.contact.first_name if leg.contact_id else "",
            "status": status(leg),
        }
        for leg in call.relatives.select_related("contact")
    ]


def broadcast_state(call, establishment_id: int) -> None:
    send_event([call_group(call.pk), establishment_group(establishment_id)], state_event(call))


__all__ = ["broadcast_state", "call_group", "establishment_group", "send_event", "state_event"]
