"""The console's live socket: call state changes of the staff member's establishments."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from calls.events import establishment_group
from parloir import access


def _allowed_establishments(scope) -> list[int] | None:
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    if not access.second_factor_ok(user, scope.get("session")):
        return None
    return list(access.establishments(user, access.Can.WATCH).values_list("pk", flat=True))


class ConsoleConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.groups_joined: list[str] = []
        establishments = await database_sync_to_async(_allowed_establishments)(self.scope)
        if not establishments:
            await self.close(code=4403)
            return
        await self.accept()
        for establishment_id in establishments:
            group = establishment_group(establishment_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # Nothing to say to the server: the console only listens.
        await self.send(
            text_data=json.dumps(
                {"type": "error", "code": "read_only", "message": "This socket only listens."}
            )
        )

    async def server_event(self, message: dict) -> None:
        event = message["event"]
        if event["type"] == "call.state":
            await self.send(text_data=json.dumps({**event, "type": "call"}))

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
