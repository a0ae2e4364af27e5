"""What staff may read of a message: everything but a live call code or a call link.

A call-code message carries the code and a link (``/j/<token>#<code>``) that lets
whoever holds them join the call as the relative. Staff who read messages (the console's
outbox, the admin) see that a code was sent, to whom and what became of it, never the
code nor the link.
"""

import re

from notify.models import Message

MASK = "••••••"

# A call link: its token and the code after "#", up to the next space.
_CALL_LINK = re.compile(r"/j/\S+")
# A code (calls.codes.CODE_DIGITS is 6): longer than the minutes of validity or a port.
_CODE = re.compile(r"\d{6,}")


def shown_text(message: Message) -> str:
    """``message.text`` with any call link masked, and its code too if it sends one."""
    text = _CALL_LINK.sub(f"/j/{MASK}", message.text)
    if message.purpose == Message.Purpose.CALL_CODE:
        if message.spoken_digits:
            text = text.replace(message.spoken_digits, MASK)
        text = _CODE.sub(MASK, text)
    return text
