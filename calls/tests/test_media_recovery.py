"""A call outlives its media node: new room, seconds given back, the rest offered again.

No Janus here: what the call layer records and decides when the media plane says the
call's room is gone (tests/media and tests/e2e drive the same actions with real Janus).
"""

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from bookings.tests.factories import booking_row
from calls import actions
from calls.events import call_group
from calls.models import Call, CallRoom, MediaOutage, Participant
from calls.tests.helpers import live_call, ready_call, start
from media import hooks
from media.models import MediaNode
from people.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

NODE_DOWN = MediaOutage.Cause.NODE_DOWN


def _node(name="node-a") -> MediaNode:
    node = MediaNode.objects.create(
        name=name,
        ws_url="ws://127.0.0.1:8188",
        admin_ws_url="ws://127.0.0.1:7188",
        recording_dir=f"/srv/recordings/{name}",
        last_seen_at=timezone.now(),
    )
    MediaNode.objects.filter(pk=node.pk).update(state=MediaNode.State.UP)
    node.refresh_from_db()
    return node


def _live_call(ready=None, node=None, room=1001):
    ready = ready or ready_call(minutes_into_slot=1, slot_minutes=30)
    return ready, live_call(ready, node or _node(), room)


def _media_back(call):
    for role in ("kiosk", "relative"):
        participant = Participant.objects.get(call=call, role=role, left_at__isnull=True)
        actions.do_note_published(participant, 8000 + len(role))
        actions.do_mark_media_up(call, role)
    return Call.objects.get(pk=call.pk)


def test_it_gives_a_live_call_a_new_room_when_its_room_is_lost():
    _ready, call = _live_call()
    node = call.media_node
    receive = _listen(call)
    assert actions.do_media_lost(
        call, node_id=node.pk, room_id=1001, cause=NODE_DOWN, since=timezone.now()
    )
    state = receive()
    assert state["type"] == "call.state" and state["media_outage"] is True
    restart = receive()
    assert restart == {"type": "call.media", "call": call.pk, "status": "restart",
                       "reason": NODE_DOWN, "epoch": 1}  # fmt: skip
    call.refresh_from_db()
    assert call.janus_room is None and call.media_node is None
    assert call.media_epoch == 1
    assert call.state == Call.State.LIVE and call.is_open
    room = CallRoom.objects.get(call=call)
    assert room.closed_at is not None and room.close_reason == NODE_DOWN
    assert not Participant.objects.filter(call=call, media_up=True).exists()
    assert call.outages.get().ended_at is None
    # Whoever noticed second does nothing: the call already left that room.
    assert not actions.do_media_lost(
        call, node_id=node.pk, room_id=1001, cause=MediaOutage.Cause.MEDIA_RESTART
    )
    assert call.outages.count() == 1


def test_the_seconds_without_media_are_added_back_to_the_deadline():
    ready, call = _live_call()
    deadline = call.deadline
    lost_at = timezone.now()
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=lost_at)  # fmt: skip
    with time_machine.travel(lost_at + timedelta(seconds=42), tick=False):
        other = _node("node-b")
        actions.do_assign_room(call, node=other, room_id=2002, pin="p", secret="s")
        call = _media_back(call)
    assert call.deadline == deadline + timedelta(seconds=42)
    assert call.given_back_seconds == 42 and call.lost_seconds == 0
    outage = call.outages.get()
    assert (outage.given_back_seconds, outage.lost_seconds) == (42, 0)
    assert [r.room for r in call.rooms.all()] == [1001, 2002]


def test_what_the_next_booking_leaves_no_room_for_is_lost_and_offered_later():
    ready = ready_call(minutes_into_slot=25, slot_minutes=30)
    # The call started 25 minutes into its slot: its deadline is the slot's end.
    booking_row(ready.site, ready.booking.ends_at + timedelta(minutes=2), minutes=30,
                detainee=_other_detainee(ready))  # fmt: skip
    _ready, call = _live_call(ready)
    assert call.deadline == ready.booking.ends_at
    lost_at = timezone.now()
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=lost_at)  # fmt: skip
    with time_machine.travel(lost_at + timedelta(seconds=200), tick=False):
        actions.do_assign_room(call, node=_node("node-b"), room_id=2002, pin="p", secret="s")
        call = _media_back(call)
    # Only the 2 minutes before the next booking could be given back.
    assert call.deadline == ready.booking.ends_at + timedelta(minutes=2)
    assert (call.given_back_seconds, call.lost_seconds) == (120, 80)


def test_the_establishment_may_cap_what_is_given_back():
    ready = ready_call()
    establishment = ready.site.establishment
    establishment.giveback_max_minutes = 1
    establishment.save(update_fields=["giveback_max_minutes"])
    _ready, call = _live_call(ready)
    deadline = call.deadline
    lost_at = timezone.now()
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=lost_at)  # fmt: skip
    with time_machine.travel(lost_at + timedelta(seconds=90), tick=False):
        actions.do_assign_room(call, node=_node("node-b"), room_id=2002, pin="p", secret="s")
        call = _media_back(call)
    assert call.deadline == deadline + timedelta(minutes=1)
    assert (call.given_back_seconds, call.lost_seconds) == (60, 30)


def test_a_call_waiting_for_a_media_node_outlives_its_deadline_then_fails_at_the_limit():
    ready, call = _live_call(ready_call(minutes_into_slot=25, slot_minutes=30))
    lost_at = timezone.now()
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=lost_at)  # fmt: skip
    call.refresh_from_db()
    limit = actions.giveback_limit(call)
    with time_machine.travel(call.deadline + timedelta(seconds=5), tick=False):
        assert actions.end_overdue() == []  # no media, but the time can still be given back
    assert Call.objects.get(pk=call.pk).is_open
    with time_machine.travel(limit + timedelta(seconds=1), tick=False):
        assert actions.end_overdue() == [call.pk]
    call.refresh_from_db()
    assert call.state == Call.State.MEDIA_FAILED
    # What was left of the conversation when the media went is lost, none of it charged.
    assert call.lost_seconds == int((call.deadline - lost_at).total_seconds())
    assert call.given_back_seconds == 0


def test_the_charge_never_includes_the_seconds_without_media():
    ready = ready_call()
    establishment = ready.site.establishment
    establishment.price_per_minute_cents = 10
    establishment.save(update_fields=["price_per_minute_cents"])
    LedgerEntry.objects.create(
        account=ready.site.detainee.account, amount_cents=1000, kind="credit", label="x"
    )
    _ready, call = _live_call(ready)
    started = call.started_at
    with time_machine.travel(started + timedelta(seconds=60), tick=False):
        actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN)
    with time_machine.travel(started + timedelta(seconds=240), tick=False):
        actions.do_assign_room(call, node=_node("node-b"), room_id=2002, pin="p", secret="s")
        call = _media_back(call)
    with time_machine.travel(started + timedelta(seconds=300), tick=False):
        actions.do_end_call(call, Call.EndReason.HUNG_UP_RELATIVE, by="relative")
    call.refresh_from_db()
    # 5 minutes on the clock, 3 of them without media: 2 minutes charged.
    assert call.charged_cents == 20


def test_a_node_going_down_moves_its_calls_instead_of_ending_them():
    _ready, call = _live_call()
    node = call.media_node
    MediaNode.objects.filter(pk=node.pk).update(state=MediaNode.State.DOWN)
    node.refresh_from_db()
    hooks.node_down(node)
    call.refresh_from_db()
    assert call.is_open and call.state == Call.State.LIVE
    assert call.janus_room is None and call.media_epoch == 1
    outage = call.outages.get()
    assert outage.cause == NODE_DOWN
    # The seconds count from the node's last answer, not from when the checker gave up.
    assert outage.started_at == node.last_seen_at


def test_a_call_that_never_went_live_moves_without_an_outage():
    ready = ready_call()
    call = start(ready)
    node = _node()
    actions.do_assign_room(call, node=node, room_id=5, pin="p", secret="s")
    assert actions.do_media_lost(call, node_id=node.pk, room_id=5, cause=NODE_DOWN)
    call.refresh_from_db()
    assert call.state == Call.State.CODE_SENT and call.janus_room is None
    assert not call.outages.exists()


def _listen(call):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(call_group(call.pk), channel)
    return lambda: async_to_sync(layer.receive)(channel)["event"]


def _other_detainee(ready):
    from tests.factories import DetaineeFactory

    return DetaineeFactory(quarter=ready.site.quarter)


def test_a_call_that_lost_time_is_offered_a_make_up_outside_the_quota(client, settings):
    from bookings.actions import do_book
    from bookings.makeup import owed_calls
    from bookings.models import Booking
    from calls.access import KIOSK_COOKIE

    settings.MAKEUP_MIN_LOST_SECONDS = 60
    ready, call = _live_call(ready_call(minutes_into_slot=25, slot_minutes=30))
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=timezone.now() - timedelta(seconds=30))  # fmt: skip
    call.refresh_from_db()
    with time_machine.travel(actions.giveback_limit(call) + timedelta(seconds=1), tick=False):
        actions.end_overdue()
    call.refresh_from_db()
    assert call.lost_seconds >= 60
    detainee = ready.site.detainee
    assert list(owed_calls(detainee)) == [call]

    client.cookies[KIOSK_COOKIE] = ready.credential
    client.post("/kiosk/", {"prison_number": detainee.prison_number, "pin": "1234"})
    home = client.get("/kiosk/accueil").content.decode()
    assert f"/kiosk/reserver?rattrapage={call.pk}" in home
    page = client.get(f"/kiosk/reserver?rattrapage={call.pk}").content.decode()
    assert "ne compte pas dans vos appels" in page

    # The quotas are spent, and still the make-up can be booked.
    rules = ready.site.rules
    rules.weekly_quota = rules.monthly_quota = 1  # spent by the call above
    rules.save(update_fields=["weekly_quota", "monthly_quota"])
    from bookings.availability import free_slots

    today = timezone.localdate(timezone=detainee.establishment.zone)
    within_quota = {
        (s.room.pk, s.starts_at)
        for s in free_slots(detainee, today, today + timedelta(days=14), via="kiosk")
    }
    outside = [
        s
        for s in free_slots(detainee, today, today + timedelta(days=14), via="kiosk", makeup=True)
        if (s.room.pk, s.starts_at) not in within_quota
    ]
    assert outside, "the make-up reaches slots the spent quota closes"
    slot = outside[0]
    booking = do_book(detainee, room=slot.room, contact=call.contact, starts_at=slot.starts_at,
                      booked_via="kiosk", makeup_for=call)  # fmt: skip
    assert booking.makeup_for == call
    assert list(owed_calls(detainee)) == []  # one make-up per call
    assert Booking.objects.filter(makeup_for=call).count() == 1


def test_staff_see_the_seconds_lost_and_given_back_on_the_call_page(client):
    from tests.factories import sign_in, staff_with_role

    ready, call = _live_call()
    lost_at = timezone.now()
    actions.do_media_lost(call, node_id=call.media_node_id, room_id=1001, cause=NODE_DOWN,
                          since=lost_at)  # fmt: skip
    with time_machine.travel(lost_at + timedelta(seconds=37), tick=False):
        actions.do_assign_room(call, node=_node("node-b"), room_id=2002, pin="p", secret="s")
        _media_back(call)
    supervisor = staff_with_role("supervisor", ready.site.establishment)
    page = sign_in(client, supervisor).get(f"/console/appels/{call.pk}/").content.decode()
    assert "37 s rendues après une panne" in page
    assert 'id="outages"' in page and "Serveur vidéo hors service" in page
    assert "node-a → node-b" in page
