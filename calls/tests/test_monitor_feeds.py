"""What a monitor is subscribed to, in the order the console places the videos."""

import pytest

from calls.consumers import _live_feeds
from calls.models import Participant
from calls.tests.helpers import ready_call, start

pytestmark = pytest.mark.django_db


def test_it_gives_the_detainees_feed_then_the_relatives():
    call = start(ready_call())
    # The relative publishes first, as when the kiosk's camera comes up late.
    Participant.objects.create(call=call, role="relative", feed_id=222, media_up=True)
    Participant.objects.create(call=call, role="kiosk", feed_id=111, media_up=True)
    Participant.objects.create(call=call, role="monitor")
    assert _live_feeds(call) == [111, 222]


def test_it_leaves_out_a_side_whose_media_is_not_up_or_who_left():
    call = start(ready_call())
    kiosk = Participant.objects.create(call=call, role="kiosk", feed_id=111, media_up=True)
    Participant.objects.create(call=call, role="relative", feed_id=222, media_up=False)
    assert _live_feeds(call) == [111]
    kiosk.left_at = kiosk.joined_at
    kiosk.save(update_fields=["left_at"])
    assert _live_feeds(call) == []
