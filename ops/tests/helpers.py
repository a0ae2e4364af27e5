"""Reading /metrics as Prometheus does (the text format, parsed by the client library),
and a live call on a media node."""

from __future__ import annotations

from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from calls.tests import helpers
from calls.tests.helpers import ready_call
from media.models import MediaNode


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the web process's /metrics."""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **extra)
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def node(name="node-a", state=MediaNode.State.UP) -> MediaNode:
    node = MediaNode.objects.create(
        name=name,
        ws_url="ws://127.0.0.1:8188",
        admin_ws_url="ws://127.0.0.1:7188",
        recording_dir=f"/srv/recordings/{name}",
        last_seen_at=timezone.now(),
        capacity=12,
    )
    MediaNode.objects.filter(pk=node.pk).update(state=state, load=3)
    return node


def live_call(node=None, room=1001):
    ready = ready_call(minutes_into_slot=1, slot_minutes=30)
    return helpers.live_call(ready, node or _default_node(), room)


def _default_node() -> MediaNode:
    return node()
