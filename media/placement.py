"""Which media node carries a new call."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, ExpressionWrapper, F, FloatField, Value, When
from django.utils import timezone

from media.models import MediaNode

# A few candidates are enough: losing the race for one node to another worker is rare.
_ATTEMPTS = 5


class NoMediaNodeAvailable(RuntimeError):
    """No node is up, recently seen and below capacity: the call cannot be placed."""


def choose_node(*, reserve: bool = True) -> MediaNode:
    """The healthiest, least loaded node that is ``up`` (hence not draining).

    Healthiest: seen by the health checker within ``MEDIA_NODE_STALE_SECONDS``
    (a node nobody checks any more is not trusted), and with no error since its
    last answer. With ``reserve`` the node's load is raised by one in the same
    conditional UPDATE that re-checks it, so concurrent placements cannot overfill
    it; the health checker later replaces ``load`` with the true room count.
    """
    fresh_since = timezone.now() - timedelta(seconds=settings.MEDIA_NODE_STALE_SECONDS)
    eligible = MediaNode.objects.filter(
        state=MediaNode.State.UP, load__lt=F("capacity"), last_seen_at__gte=fresh_since
    )
    candidates = eligible.annotate(
        failing=Case(When(last_error="", then=Value(0)), default=Value(1)),
        fill=ExpressionWrapper(F("load") * 1.0 / F("capacity"), output_field=FloatField()),
    ).order_by("failing", "fill", "-last_seen_at", "name")
    for node in candidates[:_ATTEMPTS]:
        if not reserve:
            return node
        if eligible.filter(pk=node.pk).update(load=F("load") + 1):
            node.refresh_from_db(fields=["load"])
            return node
    raise NoMediaNodeAvailable(
        "No media node is up with free capacity (see `manage.py media_health` and the "
        "media nodes' state in the admin)"
    )


def release_node(node: MediaNode) -> None:
    """Undo a reservation for a call that never got its room."""
    MediaNode.objects.filter(pk=node.pk, load__gt=0).update(load=F("load") - 1)


def _set_drain(node: MediaNode, requested: bool) -> None:
    before, after = (
        (MediaNode.State.UP, MediaNode.State.DRAINING)
        if requested
        else (MediaNode.State.DRAINING, MediaNode.State.UP)
    )
    # A down node stays down: the health checker revives it, honouring the request.
    MediaNode.objects.filter(pk=node.pk).update(
        drain_requested=requested,
        state=Case(When(state=before, then=Value(after)), default=F("state")),
    )
    node.refresh_from_db(fields=["drain_requested", "state"])


def drain(node: MediaNode) -> None:
    """Stop placing new calls on ``node``; its current calls go on."""
    _set_drain(node, True)


def undrain(node: MediaNode) -> None:
    """Place calls on ``node`` again (once the health checker sees it up, if it is down)."""
    _set_drain(node, False)
