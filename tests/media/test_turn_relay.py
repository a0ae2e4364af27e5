"""TURN end to end: coturn configured by our template, credentials from media.turn."""

import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)

from media import rooms
from media.janus import JanusAdmin, JanusClient
from media.turn import ice_servers
from tests.media.flows import join
from tests.media.harness import JanusProcess, NetnsRunner, TurnProcess
from tests.media.peers import Publisher

pytestmark = pytest.mark.media


def _relay_only(servers: list[dict]) -> Publisher:
    # What a browser does with "relay only": every candidate comes from coturn.
    configuration = RTCConfiguration(
        iceServers=[RTCIceServer(**server) for server in servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )
    return Publisher(pc=RTCPeerConnection(configuration))


def test_it_relays_media_through_coturn_with_minted_credentials(
    runner: NetnsRunner, janus: JanusProcess, turn_server: TurnProcess, settings
):
    settings.TURN_URLS = [turn_server.url]
    settings.TURN_SECRET = turn_server.secret
    settings.TURN_TTL_SECONDS = 600
    servers = ice_servers("participant-1")

    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            control = await session.attach()
            room = await rooms.create_room(control, admin_key=janus.room_admin_key, record=False)
            relative = await join(session, room, "relative", peer=_relay_only(servers))
            candidates = [
                line
                for line in relative.peer.pc.localDescription.sdp.splitlines()
                if line.startswith("a=candidate:")
            ]
            assert candidates and all(" typ relay " in line for line in candidates)

            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                report = await rooms.media_flowing(admin, room.id)
            assert report.flowing, report
            assert "[relay,udp]" in report.selected_pairs[relative.handle.id]

            await rooms.destroy_room(control, room)
            await relative.peer.close()
            await client.close(destroy_sessions=True)

    runner.run(scenario())


def test_it_gets_no_relay_with_credentials_signed_by_another_secret(
    runner: NetnsRunner, turn_server: TurnProcess, settings
):
    settings.TURN_URLS = [turn_server.url]
    settings.TURN_SECRET = "not-the-servers-secret"
    servers = ice_servers("participant-2")

    async def scenario():
        peer = _relay_only(servers)
        offer = await peer.offer()
        await peer.close()
        return offer["sdp"]

    assert "a=candidate:" not in runner.run(scenario())
