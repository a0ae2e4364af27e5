"""The console's media nodes page: each node's load, calls, lossy links, recent failures."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import actions
from calls.models import CallRoom, MediaOutage, Participant
from media.models import MediaNode
from ops.tests.helpers import live_call, node
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def _cell(body: str, name: str, attribute: str) -> str:
    row = re.search(rf'<tr data-node="{name}".*?</tr>', body, re.S).group(0)
    return re.search(rf'data-{attribute}="([^"]*)"', row).group(1)


def test_each_node_shows_its_load_calls_lossy_links_and_recent_failures(client):
    busy, quiet = node("media-a"), node("media-b", state=MediaNode.State.DOWN)
    MediaNode.objects.filter(pk=busy.pk).update(
        load=7, capacity=10, packet_loss_percent=3.25, packet_loss_at=timezone.now()
    )
    # A figure from a checker that stopped long ago is not today's.
    MediaNode.objects.filter(pk=quiet.pk).update(
        packet_loss_percent=40.0, packet_loss_at=timezone.now() - timedelta(hours=1)
    )
    call = live_call(node=busy)
    relative = Participant.objects.get(call=call, role="relative", left_at__isnull=True)
    actions.do_note_slowlink(relative)
    # A room media-a lost an hour ago (its Janus restarted), and one lost two days ago.
    other = live_call(node=busy, room=2002)
    actions.do_media_lost(other, node_id=busy.pk, room_id=2002, cause="media_restart")
    CallRoom.objects.create(
        call=other, node=busy, room=3003, pin="p", secret="s",
        created_at=timezone.now() - timedelta(days=2),
        closed_at=timezone.now() - timedelta(days=2), close_reason="node_down",
    )  # fmt: skip
    MediaNode.objects.filter(pk=quiet.pk).update(last_error="no answer within 1.0 s")

    sign_in(client, staff_with_role("guard", call.booking.room.quarter.establishment))
    page = client.get(reverse("console:media_nodes"))
    assert page.status_code == 200
    body = page.content.decode()
    assert '<meta http-equiv="refresh" content="10">' in body
    assert _cell(body, "media-a", "load") == "7"
    assert _cell(body, "media-a", "calls") == "1"  # the other call left the node
    assert _cell(body, "media-a", "lossy") == "1"
    assert _cell(body, "media-a", "packet-loss") == "3.25"
    assert _cell(body, "media-b", "packet-loss") == ""
    assert _cell(body, "media-a", "failures") == "1"
    assert str(MediaOutage.Cause("media_restart").label) in body
    assert _cell(body, "media-b", "calls") == "0"
    assert "no answer within 1.0 s" in body


def test_the_page_wants_a_signed_in_staff_member(client):
    node("media-a")
    response = client.get(reverse("console:media_nodes"))
    assert response.status_code == 302 and "/connexion/" in response["Location"]
