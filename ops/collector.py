"""The service's state, read from the database when Prometheus scrapes a web process.

Every web process answers the same (the database is shared): alert rules take the
``max`` over instances. Each query is bounded by an indexed column (a recent time
window, a flag), so a scrape stays cheap on years of data; the answer is kept
``PARLOIR_METRICS_CACHE_SECONDS`` so that several scrapers share one reading.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# A code message not delivered this long after it was sent is "late" (the relative waits
# in front of the kiosk's screen).
CODE_LATE_SECONDS = 120
# Open calls whose deadline passed more than this long ago are the call worker's to end:
# the window keeps the query on the deadline index.
OPEN_CALL_WINDOW = timedelta(days=1)


def audit_state_path() -> Path:
    return settings.VAR_DIR / "ops" / "audit_verify.json"


def write_audit_state(*, ok: bool, rows: int, broken_at: int | None) -> None:
    """Kept by ``manage.py audit_verify`` for this host's web processes to report."""
    path = audit_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"at": time.time(), "ok": ok, "rows": rows, "broken_at": broken_at}))
    tmp.replace(path)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def calls() -> list[GaugeMetricFamily]:
    from calls.models import Call

    now = timezone.now()
    open_calls = _gauge("parloir_calls_open", "Calls not yet over, by state.", ["state"])
    counts = dict(
        Call.objects.filter(state__in=Call.OPEN_STATES)
        .filter(Q(deadline__gte=now - OPEN_CALL_WINDOW) | Q(deadline__isnull=True))
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    for state in Call.OPEN_STATES:
        open_calls.add_metric([state], counts.get(state, 0))
    return [open_calls]


def media_nodes() -> list[GaugeMetricFamily]:
    from calls.models import Call
    from media.models import MediaNode
    from ops.nodes import LOSS_FRESH_WITHIN

    now = timezone.now()
    up = _gauge(
        "parloir_media_node_up",
        "1 when the node answers its health checks (up or draining), 0 when down.",
        ["node"],
    )
    state = _gauge("parloir_media_node_state", "1 for the node's current state.", ["node", "state"])
    load = _gauge(
        "parloir_media_node_rooms", "Rooms on the node, from Janus's admin API.", ["node"]
    )
    capacity = _gauge("parloir_media_node_capacity_rooms", "Rooms the node may carry.", ["node"])
    seen = _gauge(
        "parloir_media_node_last_seen_age_seconds",
        "Seconds since the node last answered a health check.",
        ["node"],
    )
    node_calls = _gauge("parloir_media_node_calls", "Open calls placed on the node.", ["node"])
    loss = _gauge(
        "parloir_media_node_packet_loss_ratio",
        "Share of the media packets lost on the node's links over the last measure (RTCP "
        "counters from Janus's admin API); absent without media or a recent measure.",
        ["node"],
    )
    per_node = dict(
        Call.objects.filter(media_node__isnull=False, state__in=Call.OPEN_STATES)
        .values_list("media_node")
        .annotate(n=Count("id"))
        .values_list("media_node", "n")
    )
    for node in MediaNode.objects.all():
        up.add_metric([node.name], 0 if node.state == MediaNode.State.DOWN else 1)
        for value in MediaNode.State.values:
            state.add_metric([node.name, value], 1 if node.state == value else 0)
        load.add_metric([node.name], node.load)
        capacity.add_metric([node.name], node.capacity)
        if node.last_seen_at is not None:
            seen.add_metric([node.name], max(0.0, (now - node.last_seen_at).total_seconds()))
        node_calls.add_metric([node.name], per_node.get(node.pk, 0))
        if (
            node.packet_loss_percent is not None
            and node.packet_loss_at is not None
            and now - node.packet_loss_at <= LOSS_FRESH_WITHIN
        ):
            loss.add_metric([node.name], node.packet_loss_percent / 100)
    return [up, state, load, capacity, seen, node_calls, loss]


def messages() -> list[GaugeMetricFamily]:
    from notify.models import Message

    now = timezone.now()
    hour = _gauge(
        "parloir_messages_last_hour",
        "Messages created in the last hour, by channel, purpose and current status.",
        ["channel", "purpose", "status"],
    )
    for channel, purpose, status, n in (
        Message.objects.filter(created_at__gte=now - timedelta(hours=1))
        .values_list("channel", "purpose", "status")
        .annotate(n=Count("id"))
        .values_list("channel", "purpose", "status", "n")
    ):
        hour.add_metric([channel, purpose, status], n)
    late = _gauge(
        "parloir_code_messages_late",
        f"Call-code messages of the last hour still not delivered {CODE_LATE_SECONDS} s "
        "after their creation (queued or sent), by channel.",
        ["channel"],
    )
    late_counts = dict(
        Message.objects.filter(
            purpose=Message.Purpose.CALL_CODE,
            status__in=[Message.Status.QUEUED, Message.Status.SENT],
            created_at__gte=now - timedelta(hours=1),
            created_at__lt=now - timedelta(seconds=CODE_LATE_SECONDS),
        )
        .values_list("channel")
        .annotate(n=Count("id"))
        .values_list("channel", "n")
    )
    for channel in Message.Channel.values:
        late.add_metric([channel], late_counts.get(channel, 0))
    queued = _gauge(
        "parloir_messages_queued_oldest_age_seconds",
        "Age of the oldest message of the last day still queued (0 when none).",
    )
    oldest = Message.objects.filter(
        status=Message.Status.QUEUED, created_at__gte=now - timedelta(days=1)
    ).aggregate(m=Min("created_at"))["m"]
    queued.add_metric([], (now - oldest).total_seconds() if oldest else 0)
    return [hour, late, queued]


def recordings() -> list[GaugeMetricFamily]:
    from recordings.models import Recording

    S = Recording.State
    now = timezone.now()
    # Recordings still to process are recent: their retention runs from the call's end.
    waiting = Recording.objects.filter(
        state__in=[S.PENDING, S.PROCESSING], retention_until__gte=now
    )
    backlog = _gauge(
        "parloir_recordings_waiting", "Recordings waiting to be processed, by state.", ["state"]
    )
    counts = dict(waiting.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    for state in (S.PENDING, S.PROCESSING):
        backlog.add_metric([state], counts.get(state, 0))
    oldest_at = waiting.filter(state=S.PENDING).aggregate(m=Min("created_at"))["m"]
    oldest = _gauge(
        "parloir_recordings_oldest_pending_age_seconds",
        "Age of the oldest recording waiting to be processed (0 when none).",
    )
    oldest.add_metric([], (now - oldest_at).total_seconds() if oldest_at else 0)
    failed = _gauge(
        "parloir_recordings_failed", "Recordings whose processing failed, flagged for staff."
    )
    failed.add_metric([], Recording.objects.filter(flagged=True, state=S.FAILED).count())
    return [backlog, oldest, failed]


def audit() -> list[GaugeMetricFamily]:
    ok = _gauge(
        "parloir_audit_chain_ok",
        "1 when this host's last `audit_verify` found the audit chain intact, 0 when broken.",
    )
    at = _gauge(
        "parloir_audit_verify_timestamp_seconds",
        "When this host's `audit_verify` last ran (Unix time).",
    )
    try:
        state = json.loads(audit_state_path().read_text())
    except (OSError, ValueError):
        return [ok, at]  # never verified here: the alert on the timestamp's absence says so
    ok.add_metric([], 1 if state.get("ok") else 0)
    at.add_metric([], float(state.get("at", 0)))
    return [ok, at]


def volumes() -> dict[str, Path]:
    found = {"var": settings.VAR_DIR, "recordings": settings.RECORDINGS_DIR}
    source_store = getattr(settings, "RECORDING_SOURCE_STORE", None)
    if source_store:
        found["recording_sources"] = Path(source_store)
    return found


def disks() -> list[GaugeMetricFamily]:
    free = _gauge(
        "parloir_storage_free_bytes",
        "Free bytes on the file system of each of parloir's storage directories.",
        ["volume"],
    )
    size = _gauge(
        "parloir_storage_size_bytes",
        "Size of the file system of each of parloir's storage directories.",
        ["volume"],
    )
    for name, path in volumes().items():
        try:
            usage = shutil.disk_usage(path)
        except OSError:
            continue
        free.add_metric([name], usage.free)
        size.add_metric([name], usage.total)
    return [free, size]


class DatabaseCollector(Collector):
    """The families above, with a scrape-failure gauge: an unreachable database must not
    make the whole endpoint fail (Prometheus would see the process as down)."""

    parts = (calls, media_nodes, messages, recordings, audit, disks)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None

    def collect(self):
        ttl = settings.METRICS_CACHE_SECONDS
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < ttl:
                yield from self._cached[1]
                return
            families = []
            errors = _gauge(
                "parloir_metrics_collect_errors",
                "Parts of the service's state that could not be read at this scrape.",
                ["part"],
            )
            for part in self.parts:
                try:
                    families.extend(part())
                    errors.add_metric([part.__name__], 0)
                except DatabaseError:
                    log.exception("Metrics: could not read %s", part.__name__)
                    errors.add_metric([part.__name__], 1)
            families.append(errors)
            self._cached = (time.monotonic(), families)
            yield from families

    def forget(self) -> None:
        with self._lock:
            self._cached = None
