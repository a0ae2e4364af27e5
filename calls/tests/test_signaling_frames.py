"""The call WebSocket refuses bad frames with an explicit error and stays up."""

import json
import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from calls import actions
from calls.protocol import CLIENT_FRAMES, MAX_FRAME_BYTES, TokenBucket
from calls.tests.helpers import ready_call, relative_socket, sent_code, start
from parloir.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "signaling.md"


async def _connect():
    communicator = WebsocketCommunicator(
        application, "/ws/call/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _error_for(communicator, **kwargs):
    await communicator.send_to(**kwargs)
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert frame["type"] == "error"
    return frame["code"]


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"text_data": "not json"}, "invalid_json"),
        ({"text_data": "[1, 2]"}, "invalid_frame"),
        # Deeper than Python's JSON parser goes, yet under the size limit.
        ({"text_data": "[" * 30_000 + "]" * 30_000}, "invalid_frame"),
        ({"text_data": json.dumps({"type": 3})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "dance"})}, "unknown_type"),
        ({"text_data": json.dumps({"type": "hello"})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "hello", "call": "1"})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "publish", "sdp": "v=0"})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "publish", "sdp": "v=0" * 10})}, "not_joined"),
        ({"text_data": json.dumps({"type": "hello", "call": 1, "x": 1})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "bandwidth", "low": "yes"})}, "invalid_frame"),
        ({"text_data": json.dumps({"type": "bandwidth", "low": True})}, "not_joined"),
        ({"text_data": "x" * (MAX_FRAME_BYTES + 1)}, "frame_too_large"),
        ({"bytes_data": b"\x00\x01"}, "binary_frame"),
    ],
)
async def test_it_answers_each_bad_frame_with_an_error_and_keeps_the_socket(payload, code):
    communicator = await _connect()
    assert await _error_for(communicator, **payload) == code
    # Still alive and answering.
    await communicator.send_to(text_data=json.dumps({"type": "ping", "id": 7}))
    assert json.loads(await communicator.receive_from(timeout=5)) == {"type": "pong", "id": 7}
    await communicator.disconnect()


async def test_it_answers_an_empty_text_frame_with_empty_frame():
    communicator = await _connect()
    # send_to() cannot send an empty text frame.
    await communicator.send_input({"type": "websocket.receive", "text": ""})
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert (frame["type"], frame["code"], frame["fatal"]) == ("error", "empty_frame", False)
    await communicator.disconnect()


async def test_it_refuses_a_stranger_joining_a_call():
    communicator = await _connect()
    await communicator.send_to(text_data=json.dumps({"type": "hello", "call": 12345}))
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert frame == {
        "type": "error",
        "code": "forbidden",
        "message": "You may not join this call.",
        "fatal": True,
    }
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_it_rate_limits_a_flood_of_frames():
    communicator = await _connect()
    for _ in range(200):
        await communicator.send_to(text_data=json.dumps({"type": "ping"}))
    codes = []
    for _ in range(200):
        frame = json.loads(await communicator.receive_from(timeout=5))
        codes.append(frame.get("code", frame["type"]))
    assert "rate_limited" in codes
    assert codes.count("pong") >= 80
    await communicator.disconnect()


def test_the_token_bucket_refills_over_time():
    bucket = TokenBucket(rate=10, burst=2)
    assert bucket.take(0.0) and bucket.take(0.0)
    assert not bucket.take(0.0)
    assert bucket.take(0.1)


def test_every_client_frame_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(), re.M))
    assert set(CLIENT_FRAMES) <= documented


def test_a_socket_whose_hello_found_no_video_server_refuses_media_frames_clearly(client, settings):
    call = start(ready_call())  # no media node is registered
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})

    async def exchange():
        communicator = await relative_socket(client)
        codes = [
            await _error_for(communicator, text_data=json.dumps(frame))
            for frame in (
                {"type": "hello", "call": call.pk},
                {"type": "bandwidth", "low": True},
                {"type": "publish", "sdp": "v=0" * 10},
            )
        ]
        await communicator.disconnect()
        return codes

    assert async_to_sync(exchange)() == ["no_media_node", "not_a_publisher", "not_a_publisher"]


def test_a_socket_without_media_stays_up_when_the_other_side_starts_publishing(client, settings):
    call = start(ready_call())  # no media node is registered
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})

    def kiosk_publishes():
        participant, _ = actions.do_join(call, "kiosk")
        actions.do_note_media(participant, feed_id=42)
        actions.do_mark_media_up(call, "kiosk")
        actions.do_announce_peer(call.pk, "kiosk", "media_up", feed=42)

    async def exchange():
        communicator = await relative_socket(client)
        code = await _error_for(
            communicator, text_data=json.dumps({"type": "hello", "call": call.pk})
        )
        await database_sync_to_async(kiosk_publishes)()
        peer = json.loads(await communicator.receive_from(timeout=5))
        await communicator.send_to(text_data=json.dumps({"type": "ping", "id": 9}))
        pong = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return code, peer, pong

    code, peer, pong = async_to_sync(exchange)()
    assert code == "no_media_node"
    assert peer == {"type": "peer", "role": "kiosk", "status": "media_up"}
    assert pong == {"type": "pong", "id": 9}


def test_a_frame_for_a_page_that_closed_its_socket_is_dropped_quietly():
    """daphne refuses a send on a socket the browser closed (autobahn's Disconnected):
    an error answering the page's last frame must not become an exception in the
    application, and nothing more is sent to it."""
    from autobahn.exception import Disconnected

    from calls.consumers import CallConsumer

    sent = []

    async def gone(message):
        sent.append(message)
        raise Disconnected("Attempt to send on a closed protocol")

    consumer = CallConsumer()
    consumer.base_send = gone
    async_to_sync(consumer._error)("media_error", "The media server did not answer.")
    assert consumer.closing is True
    async_to_sync(consumer._error)("media_error", "Again.")
    assert len(sent) == 1
