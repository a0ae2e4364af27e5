import asyncio
from dataclasses import dataclass

from notify.models import Message


@dataclass
class Outcome:
    """What a backend says of one attempt. ``delivered`` when the backend itself is the end.

    ``retryable`` marks a failure worth another try later (a gateway down, a busy line);
    ``result`` is the attempt's outcome in Attempt.Outcome terms when the backend knows
    better than ok/delivered (a voice call: answered, busy, no answer).
    """

    ok: bool
    provider_ref: str = ""
    error: str = ""
    delivered: bool = False
    retryable: bool = False
    result: str = ""


class Backend:
    name = "base"
    # Network gateways are slow or may be down: the notify worker delivers their
    # messages, never the web request. The outbox writes a file at once, after commit.
    queued = False

    def send(self, message: Message) -> Outcome:
        if type(self).asend is Backend.asend:
            raise NotImplementedError
        return asyncio.run(self.asend(message))

    async def asend(self, message: Message) -> Outcome:
        """Send from the notify worker's event loop; blocking backends run in a thread."""
        return await asyncio.to_thread(self.send, message)

    def recorded(self, message: Message) -> None:
        """Called once the attempt's outcome is stored (the SMPP backend then applies a
        receipt that overtook it)."""
