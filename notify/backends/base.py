from dataclasses import dataclass

from notify.models import Message


@dataclass
class Outcome:
    """What a backend says of one attempt. ``delivered`` when the backend itself is the end."""

    ok: bool
    provider_ref: str = ""
    error: str = ""
    delivered: bool = False


class Backend:
    name = "base"

    def send(self, message: Message) -> Outcome:
        raise NotImplementedError
