import logging
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from media import health
from media.models import MediaNode
from media.placement import NoMediaNodeAvailable, choose_node, drain, release_node, undrain

pytestmark = pytest.mark.django_db

UP, DOWN, DRAINING = MediaNode.State.UP, MediaNode.State.DOWN, MediaNode.State.DRAINING


def _node(name: str, **fields) -> MediaNode:
    values = {
        "ws_url": "ws://127.0.0.1:8188",
        "admin_ws_url": "ws://127.0.0.1:7188",
        "recording_dir": f"/srv/recordings/{name}",
        "last_seen_at": timezone.now(),
    }
    node = MediaNode.objects.create(name=name, **{**values, **fields})
    # state is not editable: set it the way the health checker does.
    MediaNode.objects.filter(pk=node.pk).update(state=fields.get("state", UP))
    node.refresh_from_db()
    return node


def test_it_places_calls_on_the_least_loaded_healthy_node():
    busy = _node("busy", load=8, capacity=10)
    _node("quiet", load=1, capacity=10)
    _node("failing", load=0, last_error="no answer within 1.0 s")
    _node("down", load=0, state=DOWN)
    _node("draining", load=0, state=DRAINING, drain_requested=True)
    _node("stale", load=0, last_seen_at=timezone.now() - timedelta(minutes=5))
    _node("full", load=10, capacity=10)

    chosen = choose_node()
    assert (chosen.name, chosen.load) == ("quiet", 2)  # reserved in the same UPDATE
    assert choose_node(reserve=False).name == "quiet"
    release_node(chosen)
    assert MediaNode.objects.get(name="quiet").load == 1
    assert busy.load == 8


def test_it_says_clearly_when_no_node_can_take_a_call():
    _node("down", state=DOWN)
    _node("full", load=1, capacity=1)
    with pytest.raises(NoMediaNodeAvailable, match="No media node is up"):
        choose_node()


def test_it_never_overfills_a_node():
    _node("last-seat", load=0, capacity=1)
    choose_node()
    with pytest.raises(NoMediaNodeAvailable):
        choose_node()


def test_it_enforces_node_invariants_in_the_database():
    node = _node("n1")
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaNode.objects.filter(pk=node.pk).update(drain_requested=True)  # still up
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaNode.objects.filter(pk=node.pk).update(state="exploded")
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaNode.objects.filter(pk=node.pk).update(capacity=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaNode.objects.filter(pk=node.pk).update(admin_ws_url="http://127.0.0.1:7188")
    with pytest.raises(IntegrityError), transaction.atomic():
        _node("n1")


def test_it_marks_a_node_down_only_after_it_stayed_silent(caplog):
    now = timezone.now()
    node = _node("n1", last_seen_at=now - timedelta(seconds=2))
    failed = health.Probe(False, "Cannot connect to ws://127.0.0.1:7188: refused")

    assert health.record(node, failed, now=now, down_after=3) is None
    node.refresh_from_db()
    assert (node.state, node.last_error) == (UP, failed.error)

    with caplog.at_level(logging.ERROR, logger="media.hooks"):
        later = now + timedelta(seconds=1)
        assert health.record(node, failed, now=later, down_after=3) == DOWN
        # A second checker reaching the same verdict changes nothing and calls no hook.
        assert health.record(node, failed, now=later, down_after=3) is None
    assert len([r for r in caplog.records if r.name == "media.hooks"]) == 1

    assert health.record(node, health.Probe(True, rooms=4), now=later, down_after=3) == UP
    node.refresh_from_db()
    assert (node.state, node.load, node.last_error, node.last_seen_at) == (UP, 4, "", later)


def test_it_keeps_an_operators_drain_across_a_failure():
    now = timezone.now()
    node = _node("n1", last_seen_at=now - timedelta(seconds=10))
    drain(node)
    assert node.state == DRAINING
    assert health.record(node, health.Probe(False, "gone"), now=now, down_after=3) == DOWN
    assert health.record(node, health.Probe(True, rooms=0), now=now, down_after=3) == DRAINING
    undrain(node)
    assert (node.state, node.drain_requested) == (UP, False)


def test_operators_register_list_drain_and_undrain_nodes_from_the_command_line():
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command(
        "media_node", "add", "media1", "--ws-url", "wss://192.0.2.21:8989",
        "--admin-ws-url", "wss://192.0.2.21:7989", "--recording-dir", "/srv/rec",
        "--ships-recordings", stdout=out,
    )  # fmt: skip
    node = MediaNode.objects.get(name="media1")
    assert node.ships_recordings and node.state == DOWN
    MediaNode.objects.filter(pk=node.pk).update(state=UP)
    call_command("media_node", "drain", "media1", stdout=out)
    assert MediaNode.objects.get(pk=node.pk).state == DRAINING
    call_command("media_node", "undrain", "media1", stdout=out)
    assert MediaNode.objects.get(pk=node.pk).state == UP
    listing = io.StringIO()
    call_command("media_node", "list", stdout=listing)
    assert listing.getvalue().startswith("media1\tup\t0/20\twss://192.0.2.21:8989")
    with pytest.raises(CommandError, match="ws://"):
        call_command("media_node", "add", "bad", "--ws-url", "http://x", "--admin-ws-url",
                     "wss://x", "--recording-dir", "/r")  # fmt: skip
    with pytest.raises(CommandError, match="No media node"):
        call_command("media_node", "drain", "nope")
