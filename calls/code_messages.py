"""Call codes: the one kind of message whose fate the kiosk shows while it waits.

Listeners of notify.hooks, registered by CallsConfig.ready(): notify knows nothing of
calls, and learns from this check whether a code is still worth sending.
"""

from __future__ import annotations

from datetime import datetime

from calls.events import call_group, send_event
from calls.models import CallCode
from notify.models import Message


def _code_of(message: Message) -> CallCode | None:
    return CallCode.objects.filter(message_id=message.pk).first()


def code_message_changed(message: Message) -> None:
    """Tell the kiosk (the call's group) the new status or channel of the current code."""
    code = _code_of(message)
    if code is None or code.voided_at is not None:
        # A replaced code's message: the kiosk shows the newer one.
        return
    if code.requested_by_relative and code.call.state != "code_sent":
        # Asked for by the relative during the call: the kiosk shows the call, not a code.
        return
    send_event(
        [call_group(code.call_id)],
        {
            "type": "call.code",
            "call": code.call_id,
            "expires_at": code.expires_at.isoformat(),
            "message_status": message.status,
            "channel": message.channel,
        },
    )


def code_still_wanted(message: Message, at: datetime) -> bool:
    code = _code_of(message)
    if code is None:
        return True
    return code.voided_at is None and code.used_at is None and code.expires_at > at
