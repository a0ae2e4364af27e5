"""The Janus client against a real Janus: answers, errors, timeouts, keepalives."""

import asyncio
import re
import time

import pytest

from media import health
from media.janus import (
    SESSION_LOST,
    VIDEOROOM,
    JanusAdmin,
    JanusClient,
    JanusConnectionLost,
    JanusError,
    JanusSessionLost,
    JanusTimeout,
)
from tests.media.harness import JanusProcess, NetnsRunner

pytestmark = pytest.mark.media


def test_it_talks_to_a_janus_configured_by_our_templates(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            info = await client.info()
            # Only what the generated configuration enables is loaded.
            assert list(info["plugins"]) == [VIDEOROOM]
            assert list(info["transports"]) == ["janus.transport.websockets"]
            assert info["server-name"] == "test-node"
            assert info["reclaim-session-timeout"] == 30

            session = await client.create_session()
            handle = await session.attach()
            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                await admin.ping()
                assert session.id in await admin.list_sessions()
                assert await admin.list_handles(session.id) == [handle.id]
                handle_info = await admin.handle_info(session.id, handle.id)
                assert handle_info["plugin"] == VIDEOROOM
            await handle.detach()
            assert session.handles == {}
            await session.destroy()
            assert client.sessions == {}

    runner.run(scenario())


def test_it_puts_the_handles_of_one_call_on_one_media_thread(runner: NetnsRunner, start_janus):
    janus = start_janus(event_loops=4)

    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            assert await client.event_loops() == 4
            session = await client.create_session()
            # Two calls' rooms: 3 handles each (2 publishers, 1 subscriber), whatever order.
            for affinity in (7, 9, 7, 9, 9, 7):
                await session.attach(affinity=affinity)
            async with JanusAdmin(janus.admin_ws_url, janus.admin_secret) as admin:
                assert await admin.loops_info() == {0: 0, 1: 3, 2: 0, 3: 3}
                # Without an affinity (a room's control handle), the least busy thread.
                await session.attach()
                assert (await admin.loops_info())[0] == 1

    runner.run(scenario())


def test_it_gives_each_handle_a_thread_when_janus_has_no_pool(runner: NetnsRunner, start_janus):
    janus = start_janus()
    janus.stop()
    prepare = janus._prepare

    def without_pool() -> list[str]:
        arguments = prepare()
        jcfg = janus.config_dir / "janus.jcfg"
        text = re.sub(
            r"\tevent_loops = \d+\n\tallow_loop_indication = true\n", "", jcfg.read_text()
        )
        jcfg.write_text(text)
        return arguments

    janus._prepare = without_pool
    janus.start()

    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            # A Janus whose threads parloir may not choose: attach as usual.
            assert await client.event_loops() == 0
            session = await client.create_session()
            handle = await session.attach(affinity=7)
            assert session.handles == {handle.id: handle}

    runner.run(scenario())


def test_it_raises_typed_errors(runner: NetnsRunner, janus: JanusProcess):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            handle = await session.attach()
            with pytest.raises(JanusError) as no_room:
                await handle.message({"request": "join", "ptype": "publisher", "room": 42})
            assert (no_room.value.code, no_room.value.reason) == (426, "No such room (42)")

            with pytest.raises(JanusError) as disabled:
                await session.attach("janus.plugin.echotest")
            assert disabled.value.code == 460  # plugin not found: the template disables it

            with pytest.raises(JanusSessionLost):
                await client.claim_session(1234567)
            await client.close(destroy_sessions=True)

        async with JanusAdmin(janus.admin_ws_url, "wrong secret") as admin:
            with pytest.raises(JanusError) as unauthorized:
                await admin.list_sessions()
            assert unauthorized.value.code == 403

        with pytest.raises(JanusConnectionLost):
            await JanusClient("ws://127.0.0.1:9", connect_timeout=1).connect()

    runner.run(scenario())


def test_it_times_out_when_janus_hangs(runner: NetnsRunner, start_janus):
    janus = start_janus()

    async def scenario():
        async with JanusClient(janus.ws_url, request_timeout=1) as client:
            session = await client.create_session()
            janus.freeze()
            try:
                started = time.monotonic()
                with pytest.raises(JanusTimeout):
                    await session.attach()
                assert 0.9 < time.monotonic() - started < 2
                probe = await health.probe(
                    janus.admin_ws_url,
                    admin_secret=janus.admin_secret,
                    room_admin_key=janus.room_admin_key,
                    timeout=1,
                )
                assert not probe.ok and "no answer" in probe.error
            finally:
                janus.thaw()
            # A hang is not a loss: the same connection and session go on.
            handle = await session.attach()
            assert handle.id in session.handles
            await client.close(destroy_sessions=True)

    runner.run(scenario())


def test_it_keeps_sessions_alive_with_keepalives(runner: NetnsRunner, start_janus):
    janus = start_janus(session_timeout=2)

    async def scenario():
        async with (
            JanusClient(janus.ws_url, keepalive_interval=0.5) as kept,
            JanusClient(janus.ws_url, keepalive_interval=3600) as forgotten,
        ):
            kept_session = await kept.create_session()
            forgotten_session = await forgotten.create_session()
            forgotten_handle = await forgotten_session.attach()

            # Janus 1.1.2 notices an expired session on the second pass of its 2 s
            # watchdog after the expiry (its bug #3175, fixed in 1.1.3): 4 to 7 s after
            # the attach. It may detach the handle before it says "timeout" (see
            # test_a_handle_janus_detached_before_the_timeout_still_hears_of_the_loss).
            await forgotten_handle.wait_for(SESSION_LOST, timeout=15)
            assert forgotten_session.lost
            with pytest.raises(JanusSessionLost):
                await forgotten_session.attach()
            # A handle learnt of after the loss (as when the loss arrives while it is
            # being attached) does not wait for events that will never come.
            late = forgotten_session.adopt_handle(forgotten_handle.id + 1)
            assert (await late.wait_for(SESSION_LOST, timeout=0.1)).kind == SESSION_LOST
            with pytest.raises(JanusSessionLost):
                await late.wait_for("webrtcup", timeout=0.1)
            # The kept one outlived the other's timeout.
            await kept_session.attach()
            await kept.close(destroy_sessions=True)

    runner.run(scenario())


def test_a_handle_janus_detached_before_the_timeout_still_hears_of_the_loss(
    runner: NetnsRunner, janus
):
    async def scenario():
        async with JanusClient(janus.ws_url) as client:
            session = await client.create_session()
            handle = await session.attach()
            waiting = asyncio.ensure_future(handle.wait_for(SESSION_LOST, timeout=10))
            await asyncio.sleep(0)
            # What Janus sends when the session times out, in the order its threads
            # may produce it: the handle's "detached", then "timeout".
            session._deliver({"janus": "detached", "session_id": session.id, "sender": handle.id})
            assert handle.id not in session.handles
            session._deliver({"janus": "timeout", "session_id": session.id})
            event = await waiting
            await client.close()
            return event.kind

    assert runner.run(scenario()) == SESSION_LOST


def test_it_fails_waiters_when_the_connection_drops(runner: NetnsRunner, start_janus):
    janus = start_janus()

    async def scenario():
        states: list[str] = []
        async with JanusClient(janus.ws_url, on_state=states.append) as client:
            session = await client.create_session()
            handle = await session.attach()
            waiting = asyncio.ensure_future(handle.wait_for("hangup", timeout=30))
            await asyncio.sleep(0)
            janus.kill()
            started = time.monotonic()
            with pytest.raises(JanusConnectionLost):
                await waiting
            assert time.monotonic() - started < 1
            with pytest.raises(JanusConnectionLost):
                await session.attach()
            assert states == ["connection_lost"]
            assert not client.up

            # Janus comes back empty: the client reconnects, but the session is gone.
            lost = handle.expect(SESSION_LOST)
            janus.start()
            await asyncio.wait_for(lost, 10)
            await client.wait_connected(5)
            assert states == ["connection_lost", "reconnected"]
            assert session.lost and client.sessions == {}
            fresh = await client.create_session()
            await fresh.attach()
            await client.close(destroy_sessions=True)

    runner.run(scenario())
