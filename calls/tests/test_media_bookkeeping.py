"""What the call WebSocket records about each side's media, through calls.actions."""

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from calls import actions
from calls.events import call_group
from calls.models import Participant
from calls.tests.helpers import ready_call, start
from tests.factories import staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def _listen(call):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(call_group(call.pk), channel)
    return lambda: async_to_sync(layer.receive)(channel)["event"]


def test_it_keeps_a_weak_link_and_tells_the_other_side_after_commit():
    call = start(ready_call())
    participant, _ = actions.do_join(call, "relative")
    actions.do_note_media(participant, feed_id=42)
    receive = _listen(call)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        actions.do_set_low_bandwidth(participant, True)
        raise Abort
    participant.refresh_from_db()
    assert not participant.low_bandwidth

    actions.do_set_low_bandwidth(participant, True)
    participant.refresh_from_db()
    assert participant.low_bandwidth and participant.last_slowlink_at is not None
    assert receive() == {
        "type": "call.peer",
        "call": call.pk,
        "role": "relative",
        "status": "low_bandwidth",
        "feed": 42,
        "relative": 0,
    }

    actions.do_set_low_bandwidth(participant, False)
    participant.refresh_from_db()
    assert not participant.low_bandwidth
    assert participant.last_slowlink_at is not None  # the live wall still shows it happened
    assert receive()["status"] == "normal_bandwidth"


def test_it_stores_where_the_media_lives_in_janus():
    call = start(ready_call())
    participant, _ = actions.do_join(call, "kiosk")
    actions.do_note_media(participant, janus_session=7, janus_publisher_handle=8, media_up=False)
    stored = Participant.objects.get(pk=participant.pk)
    assert (stored.janus_session, stored.janus_publisher_handle) == (7, 8)
    assert stored.last_seen_at is not None


def test_it_audits_how_long_a_monitor_watched():
    ready = ready_call()
    call = start(ready)
    staff = staff_with_role("supervisor", ready.site.establishment)
    monitor, _ = actions.do_join(call, "monitor", staff=staff)
    actions.do_start_watching(call, staff, monitor)
    with time_machine.travel(timezone.now() + timedelta(seconds=95)):
        actions.do_stop_watching(call, staff, monitor)
    monitor.refresh_from_db()
    assert monitor.left_at is not None
    started, ended = AuditEvent.objects.filter(action__startswith="call.watch_").order_by("seq")
    assert (started.action, ended.action) == ("call.watch_started", "call.watch_ended")
    assert started.actor == ended.actor == staff
    assert ended.data == {"participant": monitor.pk, "seconds": 95}


def test_a_participant_never_counts_a_newer_one_of_its_side_as_earlier_media():
    from calls.consumers import _earlier_media

    call = start(ready_call())
    older, _ = actions.do_join(call, "relative")
    actions.do_note_media(older, janus_session=111)
    newer, _ = actions.do_join(call, "relative")
    actions.do_note_media(newer, janus_session=222)

    # The older page's hello may run after the newer one's: it must leave the newer alone.
    assert _earlier_media(older) == []
    assert _earlier_media(newer) == [older]


def test_attachments_are_ordered_by_participant_then_by_page():
    call = start(ready_call())
    receive = _listen(call)
    first, _ = actions.do_join(call, "kiosk")
    a = actions.do_announce_attached(first, "specific.a")
    b = actions.do_announce_attached(first, "specific.b")  # the same participant reloaded
    second, _ = actions.do_join(call, "kiosk")
    c = actions.do_announce_attached(second, "specific.c")

    assert a < b < c
    assert receive() == {
        "type": "call.attached",
        "call": call.pk,
        "role": "kiosk",
        "relative": None,
        "channel": "specific.a",
        "participant": first.pk,
        "attachment": 1,
    }
    assert [receive()["attachment"], receive()["attachment"]] == [2, 1]
