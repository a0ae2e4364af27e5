"""The web process's link to a media node outlives a restart of that node's Janus."""

import asyncio

import pytest

from calls.media import Hub
from media import rooms
from media.models import MediaNode
from tests.media.harness import NetnsRunner

pytestmark = [pytest.mark.media, pytest.mark.django_db(transaction=True)]


def test_the_hub_creates_rooms_again_after_janus_restarts(
    runner: NetnsRunner, start_janus, settings
):
    janus = start_janus()
    settings.JANUS_ROOM_ADMIN_KEY = janus.room_admin_key
    node = MediaNode.objects.create(
        name=janus.config.node_name,
        ws_url=janus.ws_url,
        admin_ws_url=janus.admin_ws_url,
        recording_dir=str(janus.recording_dir),
    )
    hub = Hub()

    async def room_through_the_hub():
        link = await hub.link(node)
        await rooms.create_room(link.control, admin_key=janus.room_admin_key, record=False)
        return link

    before = runner.run(room_through_the_hub())
    janus.kill()
    janus.start()

    async def reconnected_without_its_session():
        # The client reconnects by itself; the new Janus does not know its session.
        async with asyncio.timeout(20):
            while not (before.client.up and before.control.session.lost):
                await asyncio.sleep(0.1)

    runner.run(reconnected_without_its_session())
    after = runner.run(room_through_the_hub())
    assert after.client is before.client  # the same connection, with a new session
    assert not after.control.session.lost
