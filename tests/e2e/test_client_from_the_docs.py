"""docs/signaling.md lets someone write a new client without reading the server code.

tests/e2e/doc_client.py was written from docs/signaling.md (its docstring says how
the document's gaps were found and filled). Here it takes the relative's
side of a real call (the web process, Janus, the test database), from the SMS in the
outbox to the hang-up, against the kiosk's own page in Chromium; it checks every frame
the server sends against the docs' tables.
"""

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import (
    in_browsers,
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    wait_call_state,
    wait_remote_playing,
)
from tests.e2e.doc_client import (
    CLOSE_CALL_OVER,
    CLOSE_FORBIDDEN,
    CLOSE_NORMAL,
    FINAL_STATES,
    OPEN_STATES,
    RATE_BURST,
    RATE_PER_SECOND,
    DocClient,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

# Decoded frames of the kiosk's picture and voice: about 2 s of video at Chromium's
# fake camera rate, and as many audio frames.
VIDEO_FRAMES = 30
AUDIO_FRAMES = 50


async def _kiosk_calls(browsers, stack, ready):
    kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
    await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
    return kiosk


def test_a_client_written_from_the_docs_calls_the_kiosk_and_hangs_up(stack, e2e_runner):
    ready = ready_call()

    async def scenario(browsers):
        kiosk = await _kiosk_calls(browsers, stack, ready)
        link, code = last_code(stack.outbox)
        async with DocClient(stack.base_url) as client:
            await client.follow_sms_link(link, code)
            seen = {"link": link, "portal": list(client.pages)}
            seen["call_id"] = client.call_id()
            await client.connect()
            # Before hello, only ping is answered.
            seen["pong"] = await client.ping(7)
            seen["welcome"] = await client.hello(seen["call_id"])
            # Both ways: the kiosk's picture decoded here, ours playing on the kiosk.
            await client.wait_until(
                lambda: (
                    client.decoded("video") >= VIDEO_FRAMES
                    and client.decoded("audio") >= AUDIO_FRAMES
                ),
                timeout=30,
            )
            await wait_remote_playing(kiosk)
            seen["live"] = await client.wait_for(
                lambda f: f["type"] == "state" and f["state"] == "live"
            )
            seen["publisher"] = client.publisher.connectionState
            seen["sizes"] = set(client.receiving.sizes)
            seen["ptime"] = client.publish_answer_ptime()
            seen["setups"] = client.subscriber_setups()
            seen["leave"] = await client.leave()
            seen["kiosk_state"] = await wait_call_state(kiosk, FINAL_STATES)
            # The end as the docs show it: a new socket's hello gets the final state, 4404.
            await client.connect()
            seen["final"] = await client.hello(seen["call_id"])
            seen["final_close"] = await client.wait_closed()
            seen["frames"] = list(client.frames)
            seen["problems"] = list(client.problems)
            seen["handling_errors"] = list(client.handling_errors)
            return seen

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)
    call = Call.objects.get(booking=ready.booking)

    # The portal, from the SMS's link through both consents to the call page.
    pages = ["/conditions", "/surveillance", "/appel"]
    assert seen["portal"] == [seen["link"], *(stack.base_url + page for page in pages)]
    assert seen["call_id"] == call.pk
    assert seen["pong"] == {"type": "pong", "id": 7}

    # Every frame is one the docs list, with the fields they promise (doc_client.check_frame).
    assert seen["problems"] == [], seen["problems"]
    assert seen["handling_errors"] == [], seen["handling_errors"]
    assert not [f for f in seen["frames"] if f["type"] == "error"], seen["frames"]

    welcome = seen["welcome"]
    assert welcome["type"] == "welcome", welcome
    assert welcome["role"] == "relative"
    assert welcome["call"] == call.pk
    assert welcome["publish"] is True
    assert welcome["state"]["state"] in OPEN_STATES and welcome["state"]["final"] is False
    # The media went up both ways and the call went live.
    assert seen["publisher"] == "connected"
    assert seen["sizes"], "no video frame decoded"
    assert seen["live"]["deadline"] is not None and seen["live"]["seconds_left"] > 0
    # A peer frame names the other side, with a status the docs list (check_frame). Which
    # ones come depends on timing, as the docs say: media_up only when the kiosk's media
    # reach the server after our hello (when they were up before, the offer alone says
    # so), normal_bandwidth when the kiosk's page says its mode after its own welcome
    # (step 5), which may come first on a loaded machine.
    peers = [f for f in seen["frames"] if f["type"] == "peer"]
    assert all(f["role"] == "kiosk" for f in peers), peers
    assert seen["ptime"] == "40"
    # The recommended a=setup:passive was kept, and the media came through it.
    assert seen["setups"] and set(seen["setups"]) == {"passive"}, seen["setups"]
    kinds = [f["type"] for f in seen["frames"]]
    assert kinds.count("welcome") == 1 and "publish_answer" in kinds
    assert "subscribe_offer" in kinds

    # The relative hung up: its socket closed as a normal end, nothing after the leave.
    assert seen["leave"] == (CLOSE_NORMAL, [])
    # The documented end: the final state, then 4404 (the call is over).
    final = seen["final"]
    assert final["type"] == "state" and final["final"] is True, final
    assert final["state"] == "ended"
    assert final["end_reason"] == "hung_up_relative"
    assert final["end_category"] == ""
    assert final["end_reason_label"] == "Raccroché par le proche"
    assert final["seconds_left"] == 0
    assert final is seen["frames"][-1], "a frame came after the final state"
    assert seen["final_close"] == CLOSE_CALL_OVER
    assert seen["kiosk_state"] == "ended"
    assert call.state == Call.State.ENDED
    assert call.end_reason == Call.EndReason.HUNG_UP_RELATIVE
    assert call.transitions.filter(from_state="live", to_state="ended").exists()


def test_the_docs_errors_come_as_documented_and_the_socket_stays_open(stack, e2e_runner):
    ready = ready_call()

    async def scenario(browsers):
        await _kiosk_calls(browsers, stack, ready)
        link, code = last_code(stack.outbox)
        seen = {}
        async with DocClient(stack.base_url) as client:
            await client.follow_sms_link(link, code)
            call_id = client.call_id()
            # The handshake itself is refused without the site's Origin, or with another.
            seen["no_origin"] = await client.handshake_status(None)
            seen["other_origin"] = await client.handshake_status("http://elsewhere.example")
            seen["site_origin"] = await client.handshake_status(client.origin)

            await client.connect()
            seen["pong_without_id"] = await client.ping()
            seen["before_hello"] = await client.refused({"type": "leave"})
            seen["still_open_1"] = await client.ping(1)
            seen["welcome"] = await client.hello(call_id)
            seen["second_hello"] = await client.refused({"type": "hello", "call": call_id})
            seen["unknown_type"] = await client.refused({"type": "dance"})
            seen["extra_field"] = await client.refused({"type": "ping", "id": 2, "x": 1})
            seen["candidate_extra"] = await client.refused(
                {
                    "type": "candidate",
                    "pc": "publisher",
                    "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "x": 1},
                }
            )
            seen["mline_index"] = await client.refused(
                {
                    "type": "candidate",
                    "pc": "publisher",
                    "candidate": {"candidate": "candidate:1", "sdpMLineIndex": 65},
                }
            )
            seen["short_sdp"] = await client.refused({"type": "answer", "sdp": "v=0"})
            seen["invalid_json"] = await client.refused("{not json")
            seen["binary"] = await client.refused(b"\x00\x01")
            seen["empty"] = await client.refused("")
            seen["too_large"] = await client.refused(
                '{"type":"ping","id":3,"pad":"' + "x" * 70_000 + '"}'
            )
            seen["still_open_2"] = await client.ping(4)
            # Over the rate (bursts of 80), pings are dropped with rate_limited, not queued.
            seen["burst"] = await client.burst(120)
            seen["still_open_3"] = await client.ping_until_answered(5)
            seen["leave"] = await client.leave()
            seen["problems"] = list(client.problems)

        # A socket without the portal's session may not join: fatal, closed with 4403.
        async with DocClient(stack.base_url) as stranger:
            await stranger.connect(cookies=False)
            seen["forbidden"] = await stranger.hello(call_id)
            seen["forbidden_close"] = await stranger.wait_closed()
            seen["problems"] += stranger.problems
        return seen

    seen = in_browsers(stack, e2e_runner, scenario, timeout=120)

    assert seen["problems"] == [], seen["problems"]
    assert (seen["no_origin"], seen["other_origin"], seen["site_origin"]) == (403, 403, 101)
    assert seen["pong_without_id"] == {"type": "pong", "id": 0}
    assert seen["still_open_1"] == {"type": "pong", "id": 1}
    assert seen["welcome"]["type"] == "welcome", seen["welcome"]
    expected = {
        "before_hello": "not_joined",
        "second_hello": "already_joined",
        "unknown_type": "unknown_type",
        "extra_field": "invalid_frame",
        "candidate_extra": "invalid_frame",
        "mline_index": "invalid_frame",
        "short_sdp": "invalid_frame",
        "invalid_json": "invalid_json",
        "binary": "binary_frame",
        "empty": "empty_frame",
        "too_large": "frame_too_large",
    }
    got = {name: (seen[name]["code"], seen[name]["fatal"]) for name in expected}
    assert got == {name: (code, False) for name, code in expected.items()}
    assert seen["still_open_2"] == {"type": "pong", "id": 4}
    # A burst of 80 at most, and what refilled while the 120 were answered; the rest
    # refused. How long that took depends on the machine, hence the measured refill.
    pongs, limited, seconds = seen["burst"]
    assert pongs + limited == 120, seen["burst"]
    # Some refused, unless the machine was so slow that the refill covered them all.
    assert limited > 0 or RATE_BURST + RATE_PER_SECOND * seconds >= 120, seen["burst"]
    assert 40 <= pongs <= RATE_BURST + RATE_PER_SECOND * seconds + 1, seen["burst"]
    assert seen["still_open_3"] == {"type": "pong", "id": 5}
    # The leave may have met the rate too, and was sent again.
    code, after_leave = seen["leave"]
    assert code == CLOSE_NORMAL
    assert all(f.get("code") == "rate_limited" for f in after_leave), after_leave
    assert seen["forbidden"]["type"] == "error"
    assert (seen["forbidden"]["code"], seen["forbidden"]["fatal"]) == ("forbidden", True)
    assert seen["forbidden_close"] == CLOSE_FORBIDDEN
    assert Call.objects.get(booking=ready.booking).state == Call.State.ENDED
