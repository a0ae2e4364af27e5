"""What the console's media nodes page shows of each node: its load, its calls, the
links Janus reports as losing packets, and its recent failures. Nodes serve every
establishment and the figures name nobody: any staff member may look."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from calls.models import Call, CallRoom, MediaOutage, Participant
from media.models import MediaNode

# Janus's "slowlink" events (heavy packet loss from one side) younger than this count as
# a link losing packets now.
LOSSY_WITHIN = timedelta(minutes=5)
FAILURES_WITHIN = timedelta(hours=24)
# The checkers measure packet loss every 10 s (media.health.Watcher.LOSS_EVERY): an older
# figure is from a checker that stopped, and is not shown as today's.
LOSS_FRESH_WITHIN = timedelta(minutes=1)
RECENT_FAILURES = 10


@dataclass
class NodeStatus:
    node: MediaNode
    calls: int = 0
    legs: int = 0
    lossy_legs: int = 0
    failures: list = field(default_factory=list)
    failure_count: int = 0

    @property
    def load_percent(self) -> int:
        return min(100, round(100 * self.node.load / max(1, self.node.capacity)))

    @property
    def high(self) -> float:
        """Where the load meter turns to a warning: ParloirMediaNodeHot's threshold."""
        return 0.9 * self.node.capacity

    @property
    def lossy_percent(self) -> int | None:
        if not self.legs:
            return None
        return round(100 * self.lossy_legs / self.legs)

    @property
    def packet_loss(self) -> float | None:
        """Percent of packets lost on the node's media links over the last measure."""
        at = self.node.packet_loss_at
        if at is None or timezone.now() - at > LOSS_FRESH_WITHIN:
            return None
        return self.node.packet_loss_percent

    @property
    def seen_seconds_ago(self) -> int | None:
        if self.node.last_seen_at is None:
            return None
        return max(0, int((timezone.now() - self.node.last_seen_at).total_seconds()))


def statuses(now=None) -> list[NodeStatus]:
    now = now or timezone.now()
    found = {node.pk: NodeStatus(node) for node in MediaNode.objects.all()}
    for node_id, n in (
        Call.objects.filter(media_node__isnull=False, state__in=Call.OPEN_STATES)
        .values_list("media_node")
        .annotate(n=Count("id"))
    ):
        found[node_id].calls = n
    for node_id, legs, lossy in (
        Participant.objects.filter(
            call__media_node__isnull=False,
            call__state__in=Call.OPEN_STATES,
            left_at__isnull=True,
            role__in=[Participant.Role.KIOSK, Participant.Role.RELATIVE],
        )
        .values_list("call__media_node")
        .annotate(
            legs=Count("id"),
            lossy=Count("id", filter=Q(last_slowlink_at__gte=now - LOSSY_WITHIN)),
        )
    ):
        found[node_id].legs, found[node_id].lossy_legs = legs, lossy
    failed_rooms = CallRoom.objects.filter(
        closed_at__gte=now - FAILURES_WITHIN, close_reason__in=MediaOutage.Cause.values
    ).order_by("-closed_at")
    for node_id, n in failed_rooms.values_list("node").annotate(n=Count("id")).order_by():
        found[node_id].failure_count = n
    labels = dict(MediaOutage.Cause.choices)
    for status in found.values():
        status.failures = [
            (at, labels.get(reason, reason))
            for at, reason in failed_rooms.filter(node_id=status.node.pk).values_list(
                "closed_at", "close_reason"
            )[:RECENT_FAILURES]
        ]
    return list(found.values())
