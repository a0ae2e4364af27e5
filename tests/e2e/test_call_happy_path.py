"""The seed's whole flow in real browsers through real Janus: kiosk calls, relative joins."""

import re

import pytest

from calls.models import Call
from calls.tests.helpers import ready_call
from tests.e2e.browser import (
    Browsers,
    kiosk_page,
    kiosk_sign_in_and_call,
    last_code,
    relative_joins,
    wait_remote_playing,
)

# The DTLS roles the page's subscriber connection took, one per media section.
SUBSCRIBER_DTLS_SETUP = """() => [...window.parloirCall.subscriber.localDescription.sdp
  .matchAll(/^a=setup:(\\w+)/gm)].map((m) => m[1])"""

# Audio packets the page's publisher sends per second, over two seconds.
AUDIO_PACKETS_PER_SECOND = """async () => {
  const sent = async () => {
    const stats = await window.parloirCall.publisher.getStats();
    for (const stat of stats.values()) {
      const audio = stat.type === "outbound-rtp" && stat.kind === "audio";
      if (audio) return [stat.packetsSent, stat.timestamp];
    }
    return [0, performance.now()];
  };
  const [before, t0] = await sent();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const [after, t1] = await sent();
  return (1000 * (after - before)) / (t1 - t0);
}"""

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]


def test_it_connects_kiosk_and_relative_with_video_both_ways(stack, e2e_runner):
    ready = ready_call()

    async def scenario():
        async with Browsers() as browsers:
            kiosk = await kiosk_page(browsers, stack.base_url, ready.credential)
            await kiosk_sign_in_and_call(kiosk, ready.site.detainee.prison_number)
            assert await kiosk.locator("#status").inner_text() == "En attente de votre proche"
            link, code = last_code(stack.outbox)
            relative = await (await browsers.context(stack.base_url)).new_page()
            await relative_joins(relative, link, code)
            await wait_remote_playing(kiosk)
            await wait_remote_playing(relative)
            timer = await relative.locator("#time-left").inner_text()
            kiosk_timer = await kiosk.locator("#time-left").inner_text()
            setups = [await page.evaluate(SUBSCRIBER_DTLS_SETUP) for page in (kiosk, relative)]
            audio_rates = [
                await page.evaluate(AUDIO_PACKETS_PER_SECOND) for page in (kiosk, relative)
            ]
            return timer, kiosk_timer, setups, audio_rates

    try:
        timer, kiosk_timer, setups, audio_rates = e2e_runner.run(scenario(), timeout=90)
    except Exception:
        print(stack.log_tail("web"))
        raise
    assert re.fullmatch(r"\d\d:\d\d", timer) and timer != "00:00"
    assert re.fullmatch(r"\d\d:\d\d", kiosk_timer)
    # Both browsers answered Janus's offers as the DTLS server (protocol.js asDtlsServer),
    # and the media still flowed.
    assert setups == [["passive", "passive"], ["passive", "passive"]], setups
    # Both send 40 ms audio packets, as Janus's answer asks (media.sdp): 25 a second, not 50.
    assert all(20 <= rate <= 30 for rate in audio_rates), audio_rates
    call = Call.objects.get(booking=ready.booking)
    assert call.state == Call.State.LIVE
    assert call.transitions.filter(to_state="live").exists()
