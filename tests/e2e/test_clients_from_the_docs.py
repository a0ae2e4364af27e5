"""Two clients written from the docs alone call each other, with no browser at all.

The kiosk is written from docs/kiosk.md (tests/e2e/kiosk_client.py); the relative from
docs/signaling.md, taking the ways a phone app without a browser would: the code typed
without the SMS's link, every POST carrying the CSRF cookie's own value across the
session change, and candidates in the SDP instead of trickled (doc_client.DocClient).
They run against the real web process and Janus (tests/e2e/stack.py).
"""

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import last_code
from tests.e2e.doc_client import DocClient
from tests.e2e.kiosk_client import KioskDocClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media]

VIDEO_FRAMES = 30
AUDIO_FRAMES = 50


def _media_both_ways(client: DocClient) -> bool:
    return client.decoded("video") >= VIDEO_FRAMES and client.decoded("audio") >= AUDIO_FRAMES


def test_a_kiosk_and_a_relative_written_from_the_docs_call_each_other(stack, e2e_runner):
    ready = ready_call()
    prison_number = ready.site.detainee.prison_number

    async def scenario():
        seen = {}
        async with (
            KioskDocClient(stack.base_url) as kiosk,
            DocClient(stack.base_url, trickle=False) as relative,
        ):
            await kiosk.activate(ready.credential)
            await kiosk.sign_in(prison_number, "1234")
            call_id = await kiosk.press_call()
            seen["call_id"] = call_id
            seen["expires"] = kiosk.code_expires()
            await kiosk.connect()
            seen["kiosk_welcome"] = await kiosk.hello(call_id)

            _link, code = last_code(stack.outbox)
            await relative.enter_code(code)  # the six digits only
            seen["portal"] = list(relative.pages)
            seen["relative_call_id"] = relative.call_id()
            await relative.connect()
            seen["relative_welcome"] = await relative.hello(relative.call_id())

            await relative.wait_until(lambda: _media_both_ways(relative), timeout=30)
            await kiosk.wait_until(lambda: _media_both_ways(kiosk), timeout=30)
            seen["live"] = await kiosk.wait_for(
                lambda f: f["type"] == "state" and f["state"] == "live"
            )
            seen["kept_alive"] = await kiosk.keep_alive()

            await kiosk.red_button(call_id)
            final = lambda f: f["type"] == "state" and f["final"] is True  # noqa: E731
            seen["relative_final"] = await relative.wait_for(final)
            seen["kiosk_final"] = await kiosk.wait_for(final)
            seen["after_the_end"] = await kiosk.keep_alive()
            seen["relative_sent"] = list(relative.sent)
            seen["problems"] = kiosk.problems + relative.problems
            seen["handling_errors"] = kiosk.handling_errors + relative.handling_errors
            seen["errors"] = [f for f in kiosk.frames + relative.frames if f["type"] == "error"]
        return seen

    seen = stack.run(e2e_runner, scenario(), timeout=120)
    call = Call.objects.get(booking=ready.booking)

    # The kiosk's pages led to this booking's call; the code alone led the relative there.
    assert seen["call_id"] == seen["relative_call_id"] == call.pk
    assert seen["expires"], "the call page names no code expiry"
    assert seen["portal"] == ["/conditions", "/surveillance", "/appel"]
    assert seen["kiosk_welcome"]["role"] == "kiosk"
    assert seen["relative_welcome"]["role"] == "relative"
    # Every frame as the docs describe it, none refused.
    assert seen["problems"] == [], seen["problems"]
    assert seen["handling_errors"] == [], seen["handling_errors"]
    assert seen["errors"] == [], seen["errors"]

    # The relative never trickled: its SDPs carried the candidates, and media flowed.
    sent = seen["relative_sent"]
    assert not [f for f in sent if f["type"] == "candidate"], sent
    sdps = [f["sdp"] for f in sent if f["type"] in ("publish", "answer")]
    assert len(sdps) >= 2 and all("a=candidate:" in sdp for sdp in sdps)

    assert seen["live"]["deadline"] is not None
    # The call page's heartbeat: 204 while the call is open, 410 once it is over.
    assert (seen["kept_alive"], seen["after_the_end"]) == (204, 410)
    # The red button once live: hung up by the detainee, both sides told.
    for side in ("relative_final", "kiosk_final"):
        assert seen[side]["state"] == "ended" and seen[side]["end_reason"] == "hung_up_detainee"
    assert call.state == Call.State.ENDED
    assert call.end_reason == Call.EndReason.HUNG_UP_DETAINEE
