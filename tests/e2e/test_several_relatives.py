"""A detainee and three relatives in three places, with clients written from the docs.

The kiosk (tests/e2e/kiosk_client.py) and three relatives (tests/e2e/doc_client.py,
each from their own SMS) through the real web process and Janus: the relatives come in
any order, one refuses the terms, the others see and hear everyone (each stream placed
by the offer's ``streams``), one drops and comes back, staff remove one from the
console, and the deadline ends the call for all. Every frame is checked against
docs/signaling.md.
"""

import json
import re
import time

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from calls.models import Call, CallRelative, Participant
from calls.tests.helpers import ready_family
from media.janus import JanusAdmin
from tests.e2e.doc_client import DocClient
from tests.e2e.kiosk_client import KioskDocClient
from tests.factories import staff_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media]

FRAMES = 20  # decoded video frames of one sender: about a second and a half


def _codes(outbox) -> dict[str, tuple[str, str]]:
    """The last (link path, code) sent to each number."""
    found = {}
    for line in outbox.read_text().splitlines():
        entry = json.loads(line)
        link = re.search(r"https?://[^/\s]+(/j/[^#\s]+)#(\d+)", entry["text"])
        if link:
            found[entry["to"]] = (link.group(1), link.group(2))
    return found


def _sees(client: DocClient, *senders: tuple[str, int | None]) -> bool:
    return all(client.decoded_from(role, rel, "video") >= FRAMES for role, rel in senders)


def _hears(client: DocClient, *senders: tuple[str, int | None]) -> bool:
    return all(client.decoded_from(role, rel, "audio") >= FRAMES for role, rel in senders)


def _feed_of(client: DocClient, sender: tuple[str, int | None]) -> int | None:
    """The feed of ``sender``'s video in the client's current subscription."""
    streams = client.receiving.streams if client.receiving else []
    return next(
        (
            s["feed"]
            for s in streams
            if (s["role"], s["relative"]) == sender and s["kind"] == "video"
        ),
        None,
    )


async def _publisher_bitrates(stack, call_id: int) -> dict:
    """Each side's video cap as Janus applies it to its publisher (admin API)."""
    from channels.db import database_sync_to_async

    pages = await database_sync_to_async(
        lambda: list(
            Participant.objects.filter(call_id=call_id, left_at=None)
            .exclude(janus_publisher_handle=None)
            .values_list("role", "relative__position", "janus_session", "janus_publisher_handle")
        )
    )()
    found = {}
    async with JanusAdmin(stack.janus.admin_ws_url, stack.janus.admin_secret) as admin:
        for role, position, session, handle in pages:
            info = await admin.handle_info(session, handle)
            found[role, position] = info["plugin_specific"].get("bitrate")
    return found


def _token(device: TOTPDevice) -> str:
    oath = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    oath.time = time.time()
    return f"{oath.token():06d}"


async def _staff_signs_in(staff: DocClient, username: str, device: TOTPDevice) -> None:
    await staff.fetch("/console/connexion/")
    status, where, _ = await staff.form(
        "/console/connexion/", {"username": username, "password": "correct horse battery"}
    )
    assert status == 302 and "totp" in where, (status, where)
    await staff.fetch(where)
    status, where, _ = await staff.form(where, {"token": _token(device)})
    assert (status, where) == (302, "/console/"), (status, where)


def test_a_detainee_and_three_relatives_hold_one_call(stack, e2e_runner):
    ready, family = ready_family()
    establishment = ready.site.establishment
    guard = staff_with_role("guard", establishment)
    device = TOTPDevice.objects.create(user=guard, name="phone", confirmed=True)
    kiosk_side, lina_side = ("kiosk", None), ("relative", 1)
    first_side = ("relative", 0)

    async def scenario():
        seen = {}
        async with (
            KioskDocClient(stack.base_url) as kiosk,
            DocClient(stack.base_url) as first,
            DocClient(stack.base_url) as lina,
            DocClient(stack.base_url) as yanis,
            DocClient(stack.base_url) as staff,
        ):
            await kiosk.activate(ready.credential)
            await kiosk.sign_in(ready.site.detainee.prison_number, "1234")
            call_id = await kiosk.press_call()
            await kiosk.connect()
            await kiosk.hello(call_id)
            codes = _codes(stack.outbox)
            seen["codes"] = codes

            # Lina first: the conversation starts with her.
            await lina.follow_sms_link(stack.base_url + codes[family[1].phone_number][0],
                                       codes[family[1].phone_number][1])  # fmt: skip
            await lina.connect()
            seen["lina_welcome"] = await lina.hello(lina.call_id())
            await kiosk.wait_for(lambda f: f["type"] == "state" and f["state"] == "live")
            await kiosk.wait_until(lambda: _sees(kiosk, lina_side), 30)

            # Yanis refuses the terms: out of the call, which goes on.
            link, code = codes[family[2].phone_number]
            url, page = await yanis._get(stack.base_url + link)
            url, page = await yanis._post(url, page, {"code": code})
            url, _page = await yanis._post(url, page, {"decision": "refuse"})
            seen["yanis_after_refusal"] = url
            seen["yanis_refused"] = await kiosk.wait_for(
                lambda f: (
                    f["type"] == "state"
                    and any(r["status"] == "refused" for r in f.get("relatives", []))
                )
            )

            # The first relative comes last: everyone sees and hears everyone.
            link, code = codes[family[0].phone_number]
            await first.follow_sms_link(stack.base_url + link, code)
            await first.connect()
            seen["first_welcome"] = await first.hello(first.call_id())
            await first.wait_until(lambda: _sees(first, kiosk_side, lina_side), 30)
            await lina.wait_until(lambda: _sees(lina, kiosk_side, first_side), 30)
            await kiosk.wait_until(lambda: _sees(kiosk, lina_side, first_side), 30)
            await kiosk.wait_until(lambda: _hears(kiosk, lina_side, first_side), 30)
            seen["kiosk_streams"] = list(kiosk.receiving.streams)
            seen["bitrates"] = await _publisher_bitrates(stack, call_id)
            seen["told"] = {
                name: client.publish_answer["max_bitrate"]
                for name, client in (("kiosk", kiosk), ("first", first), ("lina", lina))
            }

            # Lina's link weakens: she keeps the detainee's picture and everyone's voice.
            after = len(lina.frames)
            await lina.send({"type": "bandwidth", "low": True})
            offer = await lina.wait_for(lambda f: f["type"] == "subscribe_offer", after=after)
            seen["weak_streams"] = sorted(
                (s["role"], s["relative"], s["kind"]) for s in offer["streams"]
            )
            await lina.wait_until(
                lambda: _sees(lina, kiosk_side) and _hears(lina, kiosk_side, first_side), 30
            )
            after = len(lina.frames)
            await lina.send({"type": "bandwidth", "low": False})
            offer = await lina.wait_for(lambda f: f["type"] == "subscribe_offer", after=after)
            await lina.wait_until(lambda: _sees(lina, kiosk_side, first_side), 30)

            # Lina's page drops (a reload): back with her token, seen again by all.
            resume = lina.welcome["resume"]
            before_reload = len(kiosk.frames)
            old_feed = _feed_of(kiosk, lina_side)
            await lina._stop_media()
            await lina.ws.close()
            await lina.wait_closed()
            lina.receiving = None
            await lina.connect()
            seen["lina_back"] = await lina.hello(lina.call_id(), resume=resume)
            await lina.wait_until(lambda: _sees(lina, kiosk_side, first_side), 30)
            # Her new media reach the kiosk in a new subscription.
            await kiosk.wait_for(lambda f: f["type"] == "subscribe_offer", after=before_reload)
            await kiosk.wait_until(lambda: _feed_of(kiosk, lina_side) not in (None, old_feed), 30)
            await kiosk.wait_until(lambda: _sees(kiosk, lina_side, first_side), 30)
            seen["lina_feeds"] = (old_feed, _feed_of(kiosk, lina_side))

            # Staff remove the first relative, with a reason: out, the others go on.
            await _staff_signs_in(staff, guard.username, device)
            status, where, _ = await staff.form(
                f"/console/appels/{call_id}/proches/0/retirer/", {"reason": "Propos menaçants"}
            )
            seen["removed"] = (status, where)
            seen["first_out"] = await first.wait_for(lambda f: f["type"] == "out")
            seen["first_closed"] = await first.wait_closed()
            seen["kiosk_told"] = await kiosk.wait_for(
                lambda f: f["type"] == "peer" and f.get("reason") == "removed"
            )
            seen["lina_told"] = await lina.wait_for(
                lambda f: f["type"] == "peer" and f.get("reason") == "removed"
            )

            # The deadline ends the call for everyone left (the calls worker enforces it).
            await database_deadline_now(call_id)
            final = lambda f: f["type"] == "state" and f["final"] is True  # noqa: E731
            seen["kiosk_final"] = await kiosk.wait_for(final, timeout=30)
            seen["lina_final"] = await lina.wait_for(final, timeout=30)
            seen["problems"] = kiosk.problems + first.problems + lina.problems
            seen["errors"] = [
                f for c in (kiosk, first, lina) for f in c.frames if f["type"] == "error"
            ]
            seen["handling_errors"] = [e for c in (kiosk, first, lina) for e in c.handling_errors]
        return seen

    seen = stack.run(e2e_runner, scenario(), timeout=240)
    call = Call.objects.get(booking=ready.booking)
    legs = {leg.position: leg for leg in CallRelative.objects.filter(call=call)}

    assert len(seen["codes"]) == 3, "each relative got their own code"
    assert len({link for link, _code in seen["codes"].values()}) == 3
    assert seen["lina_welcome"]["relative"] == 1 and seen["first_welcome"]["relative"] == 0
    assert seen["yanis_after_refusal"].endswith("/fin") and legs[2].refused_at is not None
    streams = {(s["role"], s["relative"], s["kind"]): s["name"] for s in seen["kiosk_streams"]}
    assert streams[("relative", 1, "video")] == "Lina"
    assert ("relative", 0, "audio") in streams
    # In a call of several, each relative is a small tile: their video is capped lower
    # than the detainee's (docs/configuration.md, PARLOIR_GROUP_RELATIVE_VIDEO_BITRATE).
    assert seen["bitrates"][("relative", 0)] == seen["bitrates"][("relative", 1)] == 128_000
    assert seen["bitrates"][("kiosk", None)] in (None, 0, 512_000), seen["bitrates"]
    # Each page is told the cap Janus applies to its video (publish_answer's max_bitrate):
    # a sending estimate held there is no weak link (static/js/protocol.js, atCap).
    assert seen["told"] == {"kiosk": 512_000, "first": 128_000, "lina": 128_000}
    assert seen["weak_streams"] == [
        ("kiosk", None, "audio"),
        ("kiosk", None, "video"),
        ("relative", 0, "audio"),
    ]
    assert seen["lina_back"]["type"] == "welcome"
    assert seen["removed"] == (302, f"/console/appels/{call.pk}/")
    assert seen["first_out"]["why"] == "removed" and seen["first_closed"] == 1000
    assert seen["kiosk_told"]["relative"] == 0 and seen["lina_told"]["relative"] == 0
    assert legs[0].removed_reason == "Propos menaçants"
    assert AuditEvent.objects.filter(action="call.relative_removed").count() == 1
    for side in ("kiosk_final", "lina_final"):
        assert seen[side]["state"] == "ended" and seen[side]["end_reason"] == "time_up"
    assert call.state == Call.State.ENDED
    assert seen["problems"] == [], seen["problems"]
    assert seen["errors"] == [], seen["errors"]
    assert seen["handling_errors"] == [], seen["handling_errors"]


async def database_deadline_now(call_id: int) -> None:
    from channels.db import database_sync_to_async

    await database_sync_to_async(
        lambda: Call.objects.filter(pk=call_id).update(deadline=timezone.now())
    )()
