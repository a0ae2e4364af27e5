"""The call WebSocket in this process against a real Janus: which page keeps a side.

The e2e tests open pages one after the other; here two pages of one side say hello at
the same moment, or an older page's hello is heard after a newer one's, which only the
server's order of attachments can settle.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from calls import actions
from calls.media import hub, room_of
from calls.models import Call, CallRoom, Participant
from calls.tests.helpers import ready_call, relative_socket, sent_code, start
from media import rooms
from media.janus import JanusClient
from media.models import MediaNode
from tests.media.flows import join
from tests.media.harness import JanusProcess, NetnsRunner
from tests.media.peers import Publisher

pytestmark = [pytest.mark.media, pytest.mark.django_db(transaction=True)]

CLOSE_REPLACED = 4409


def _call_on(janus: JanusProcess, settings, client):
    """A started call placed on ``janus``, and a portal session of its relative."""
    settings.JANUS_ROOM_ADMIN_KEY = janus.room_admin_key
    MediaNode.objects.create(
        name=janus.config.node_name,
        ws_url=janus.ws_url,
        admin_ws_url=janus.admin_ws_url,
        recording_dir=str(janus.recording_dir),
        # As the health checker leaves a node it has just heard from.
        state=MediaNode.State.UP,
        last_seen_at=timezone.now(),
    )
    call = start(ready_call())
    client.post(f"/j/{call.link_token}", {"code": sent_code(settings)})
    client.post("/conditions", {"decision": "accept"})
    client.post("/surveillance", {"decision": "accept"})
    return call, client


@pytest.fixture(autouse=True)
def _hub_closed_after(runner: NetnsRunner):
    """The consumers' hub connects to Janus in the runner's loop: other tests count the
    connections to Janus, so none may outlive the test, nor its rooms and sessions."""
    yield

    async def close():
        for room in await database_sync_to_async(list)(
            CallRoom.objects.select_related("node").filter(released_at=None)
        ):
            await hub.release_room(room)
        await hub.close(destroy_sessions=True)

    runner.run(close())


@pytest.fixture
def relative(janus: JanusProcess, settings, client):
    return _call_on(janus, settings, client)


async def _frames_until(socket, predicate, timeout: float = 10) -> list[dict]:
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            output = await socket.receive_output(timeout)
            if output["type"] == "websocket.close":
                seen.append({"type": "closed", "code": output.get("code")})
                return seen
            frame = json.loads(output["text"])
            seen.append(frame)
            if predicate(frame):
                return seen


def _welcomed(frame: dict) -> bool:
    return frame["type"] in ("welcome", "error")


async def _alive(socket) -> bool:
    """The socket answers a ping and heard nothing else meanwhile."""
    await socket.send_to(text_data=json.dumps({"type": "ping", "id": 5}))
    frames = await _frames_until(socket, lambda f: f["type"] == "pong")
    return frames == [{"type": "pong", "id": 5}]


def _relative_sessions(call) -> list[int]:
    return list(
        Participant.objects.filter(call=call, role="relative")
        .exclude(janus_session=None)
        .values_list("janus_session", flat=True)
    )


def test_an_older_pages_late_hello_does_not_knock_the_newer_one_out(runner: NetnsRunner, relative):
    call, client = relative

    async def scenario():
        older = await relative_socket(client)
        await older.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        assert (await _frames_until(older, _welcomed))[-1]["type"] == "welcome"
        first = await database_sync_to_async(Participant.objects.get)(
            call=call, role="relative", left_at=None
        )

        newer = await relative_socket(client)
        await newer.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        assert (await _frames_until(newer, _welcomed))[-1]["type"] == "welcome"
        told = await _frames_until(older, lambda f: f["type"] == "closed")

        # The older participant's announcement, heard late (its hello crossed the newer
        # one's): the newer page keeps the side.
        await database_sync_to_async(actions.do_announce_attached)(first, "specific.late!older")
        # Events reach a socket in order: once this one is heard, so was the one before.
        await database_sync_to_async(actions.do_announce_peer)(call.pk, "kiosk", "left", feed=None)
        heard = await _frames_until(newer, lambda f: f["type"] in ("peer", "closed"))
        kept = heard == [{"type": "peer", "role": "kiosk", "status": "left"}]
        kept = kept and await _alive(newer)
        await newer.disconnect()
        return told, heard, kept

    told, heard, kept = runner.run(scenario())
    assert [f.get("code") for f in told if f["type"] in ("error", "closed")] == [
        "replaced",
        CLOSE_REPLACED,
    ]
    assert kept, f"the newer page was knocked out by an older page's hello: {heard}"


def test_of_two_pages_saying_hello_at_once_exactly_one_keeps_the_side(
    runner: NetnsRunner, relative
):
    call, client = relative

    async def scenario():
        rounds = []
        for _ in range(3):
            pages = [await relative_socket(client), await relative_socket(client)]
            hello = json.dumps({"type": "hello", "call": call.pk})
            await asyncio.gather(*(page.send_to(text_data=hello) for page in pages))
            replies = await asyncio.gather(*(_frames_until(page, _welcomed) for page in pages))
            assert all(r[-1]["type"] == "welcome" for r in replies), replies
            # Whoever is replaced hears it at once; give a late announcement time to land.
            await asyncio.sleep(0.5)
            alive = []
            for page in pages:
                try:
                    alive.append(await _alive(page))
                except (AssertionError, TimeoutError):
                    alive.append(False)
            sessions = await database_sync_to_async(_relative_sessions)(call)
            rounds.append((alive, sessions))
            for page in pages:
                await page.disconnect()
        return rounds

    for alive, sessions in runner.run(scenario()):
        assert sorted(alive) == [False, True], alive
        # Only the page that kept the side holds a Janus session.
        assert len(sessions) == 1, sessions


def _kiosk_publishes(call, feed_id: int) -> None:
    """What the kiosk's own socket records when its page publishes (a new participant:
    the kiosk page was reloaded)."""
    participant, _ = actions.do_join(call, "kiosk")
    actions.do_note_media(participant, feed_id=feed_id)
    actions.do_mark_media_up(call, "kiosk")
    actions.do_announce_peer(call.pk, "kiosk", "media_up", feed=feed_id)


def test_a_page_back_after_the_other_side_published_again_subscribes_to_the_new_feed(
    runner: NetnsRunner, relative, janus: JanusProcess
):
    """The relative's socket drops (its media stay up) while the kiosk page reloads and
    publishes a new feed; back with ``media_alive``, the relative must be offered the new
    feed, not left on the subscription it had, to a feed that is gone."""
    call, client = relative

    async def scenario():
        first = await relative_socket(client)
        await first.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        welcome = (await _frames_until(first, _welcomed))[-1]
        assert welcome["type"] == "welcome", welcome
        stored = await database_sync_to_async(Call.objects.select_related("media_node").get)(
            pk=call.pk
        )
        room = room_of(stored)

        async with JanusClient(janus.ws_url) as kiosk_side:
            session = await kiosk_side.create_session()
            before = await join(session, room, "kiosk")
            # The kiosk's socket announces a feed once Janus says its media are up.
            await asyncio.wait_for(before.handle.webrtc_up.wait(), 10)
            await database_sync_to_async(_kiosk_publishes)(call, before.feed_id)
            offered = await _frames_until(first, lambda f: f["type"] == "subscribe_offer")
            assert offered[-1].get("renegotiate") is not True, offered
            await first.disconnect()

            # The kiosk page reloads: its old feed leaves, a new one comes.
            await before.handle.detach()
            await before.peer.close()
            after = await join(session, room, "kiosk")
            await asyncio.wait_for(after.handle.webrtc_up.wait(), 10)
            await database_sync_to_async(_kiosk_publishes)(call, after.feed_id)

            back = await relative_socket(client)
            hello = {"type": "hello", "call": call.pk, "resume": welcome["resume"]}
            await back.send_to(text_data=json.dumps({**hello, "media_alive": True}))
            frames = await _frames_until(back, _welcomed)
            assert frames[-1]["type"] == "welcome" and frames[-1]["publish"] is False, frames
            try:
                frames = await _frames_until(
                    back, lambda f: f["type"] == "subscribe_offer", timeout=10
                )
            except TimeoutError:
                frames = []
            subscribed = await database_sync_to_async(
                lambda: Participant.objects.get(call=call, role="relative", left_at=None)
            )()
            await back.disconnect()
            await after.peer.close()
            await session.destroy()
            return frames, subscribed.subscribed_feeds, after.feed_id

    frames, subscribed, new_feed = runner.run(scenario())
    assert frames and frames[-1]["type"] == "subscribe_offer", "not offered the new feed"
    assert frames[-1].get("renegotiate") is not True
    assert subscribed == [new_feed]


def test_a_call_whose_janus_restarted_in_a_flash_gets_a_new_room(
    runner: NetnsRunner, start_janus, settings, client
):
    """Janus restarts faster than the health checker marks its node down, and while no
    page of the call was there to notice: the call lives on, its room does not. The
    page's next hello must get the call a new room (the old one stays in the call's
    history, for its recording) and be able to publish, not get errors for ever."""
    janus = start_janus()
    call, client = _call_on(janus, settings, client)
    hello = {"type": "hello", "call": call.pk}

    async def first_hello():
        page = await relative_socket(client)
        await page.send_to(text_data=json.dumps(hello))
        welcome = (await _frames_until(page, _welcomed))[-1]
        await page.disconnect()
        return welcome

    welcome = runner.run(first_hello())
    assert welcome["type"] == "welcome", welcome
    room_id = Call.objects.get(pk=call.pk).janus_room
    janus.kill()
    janus.start()

    async def publish_again():
        page = await relative_socket(client)
        resumed = {**hello, "resume": welcome["resume"], "media_alive": False}
        await page.send_to(text_data=json.dumps(resumed))
        replies = await _frames_until(page, _welcomed, timeout=20)
        peer = Publisher()
        offer = await peer.offer()
        await page.send_to(text_data=json.dumps({"type": "publish", "sdp": offer["sdp"]}))
        answered = await _frames_until(
            page, lambda f: f["type"] in ("publish_answer", "error"), timeout=20
        )
        await page.disconnect()
        await peer.close()
        return replies, answered

    replies, answered = runner.run(publish_again())
    assert replies[-1]["type"] == "welcome" and replies[-1]["publish"] is True, replies
    assert answered[-1]["type"] == "publish_answer", answered
    stored = Call.objects.get(pk=call.pk)
    assert stored.janus_room not in (None, room_id)
    assert stored.media_epoch == 1 and replies[-1]["epoch"] == 1
    old, new = CallRoom.objects.filter(call=call).order_by("pk")
    assert (old.room, old.close_reason) == (room_id, "media_restart")
    assert (new.room, new.closed_at) == (stored.janus_room, None)


def test_a_feed_whose_publisher_hung_up_is_not_an_error_for_the_page(runner: NetnsRunner, relative):
    """The kiosk's publisher is gone from Janus while the database still names its feed
    (only "left" was announced): the relative's hello must not end in an error, on which
    the page would tear its own media down, again and again."""
    call, client = relative
    # A feed id Janus does not know: as after the kiosk's publisher hung up.
    _kiosk_publishes(call, 987654321)

    async def scenario():
        page = await relative_socket(client)
        await page.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        welcome = (await _frames_until(page, _welcomed))[-1]
        alive = await _alive(page)
        await page.disconnect()
        return welcome, alive

    welcome, alive = runner.run(scenario())
    assert welcome["type"] == "welcome", welcome
    assert alive, "an error followed the welcome"


def test_the_room_of_a_call_that_ended_meanwhile_is_not_created_again(
    runner: NetnsRunner, relative, janus: JanusProcess
):
    """A hello that passed the open-call check as the call ended: the call worker has
    destroyed the room; the hub must not bring it back (nothing would release it)."""
    call, client = relative

    async def first_hello():
        page = await relative_socket(client)
        await page.send_to(text_data=json.dumps({"type": "hello", "call": call.pk}))
        await _frames_until(page, _welcomed)
        await page.disconnect()

    runner.run(first_hello())
    stored = Call.objects.select_related("media_node").get(pk=call.pk)
    actions.do_end_call(stored, Call.EndReason.HUNG_UP_RELATIVE, by="relative")
    ended = Call.objects.select_related("media_node").get(pk=call.pk)

    async def release_then_ensure():
        room = await database_sync_to_async(CallRoom.objects.select_related("node").get)(
            call=ended, room=ended.janus_room
        )
        await hub.release_room(room)
        await database_sync_to_async(Call.objects.filter(pk=call.pk).update)(
            media_released_at=timezone.now()
        )
        await hub.ensure_room(ended)
        link = await hub.link(ended.media_node)
        return await rooms.room_exists(link.control, ended.janus_room)

    assert runner.run(release_then_ensure()) is False
