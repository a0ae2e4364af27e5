"""The embedded backend: messages land in a JSON-lines file and on a staff page.

It stands in for a real gateway on a demo or a developer's machine: what would
have been texted or spoken is there to read, one JSON object per line.
"""

import fcntl
import json

from django.conf import settings

from notify.backends.base import Backend, Outcome
from notify.models import Message


class OutboxBackend(Backend):
    name = "outbox"

    def send(self, message: Message) -> Outcome:
        entry = {
            "id": message.pk,
            "to": message.to_number,
            "channel": message.channel,
            "language": message.language,
            "purpose": message.purpose,
            "text": message.text,
            "at": message.created_at.isoformat(),
        }
        if message.channel == Message.Channel.VOICE:
            from notify import speech

            # What a voice call would say, once (it is read again on request).
            entry["spoken"] = speech.script_for(message).text
        line = json.dumps(entry, ensure_ascii=False)
        path = settings.OUTBOX_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            # Several processes (web, workers) append: lock so lines never interleave.
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line + "\n")
            fh.flush()
        return Outcome(ok=True, provider_ref=f"outbox:{message.pk}", delivered=True)
