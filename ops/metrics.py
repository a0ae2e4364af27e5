"""What happened in this process, as Prometheus metrics (prometheus_client's registry).

Every process keeps its own counters and histograms: a web server serves them on
``/metrics`` (ops/views.py, with the service's state read from the database at scrape
time, ops/collector.py), a worker on the port ``PARLOIR_METRICS_PORT`` names
(ops/exporter.py). Prometheus scrapes each process and sums them.

No label carries personal data: labels take their values from fixed sets (call states
and end reasons, channels, purposes, page audiences, worker names) or are media node
names, which operators choose.

Events are counted when their transaction commits: a rolled-back transition happened
nowhere else either.
"""

from __future__ import annotations

import time

from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram

# Set-up stages from "Appeler" (the call's first move to ``calling``).
SETUP_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)

CALLS_ENDED = Counter(
    "parloir_calls_ended",
    "Calls that reached a final state, by that state and the end reason.",
    ["state", "end_reason"],
)
CALL_SETUP = Histogram(
    "parloir_call_setup_seconds",
    "Seconds from Appeler (the kiosk's call) to each set-up stage: code_delivered, "
    "relative_joined, live.",
    ["stage"],
    buckets=SETUP_BUCKETS,
)
MEDIA_OUTAGES = Counter(
    "parloir_media_outages",
    "Interruptions of a live call's media that were not the family's doing, by cause.",
    ["cause"],
)
OUTAGE_GIVEN_BACK = Counter(
    "parloir_media_outage_given_back_seconds",
    "Seconds of media interruptions added back to the calls' deadlines.",
)
OUTAGE_LOST = Counter(
    "parloir_media_outage_lost_seconds",
    "Seconds of media interruptions that could not be given back (offered as a make-up call).",
)
OUTAGE_DURATION = Histogram(
    "parloir_media_outage_duration_seconds",
    "Length of media interruptions, from the failure's first sign to both sides' media back.",
    buckets=(1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300),
)
MESSAGES = Counter(
    "parloir_messages",
    "Messages to relatives moving to a status (queued again means a retry or a fallback).",
    ["channel", "purpose", "status"],
)
MESSAGE_DELIVERY = Histogram(
    "parloir_message_delivery_seconds",
    "Seconds from a message's creation to its delivery report (SMS) or answer (voice).",
    ["channel", "purpose"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
RECORDINGS_PROCESSED = Counter(
    "parloir_recordings_processed",
    "Recording jobs that reached an outcome, by the recording's state.",
    ["state"],
)
RECORDING_PROCESSING = Histogram(
    "parloir_recording_processing_seconds",
    "Seconds one recording job took, from its claim to its outcome.",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
HTTP_RESPONSES = Counter(
    "parloir_http_responses",
    "HTTP responses, by audience (portal, kiosk, console, admin, api, other) and status class.",
    ["audience", "status"],
)
HTTP_EXCEPTIONS = Counter(
    "parloir_http_exceptions",
    "Requests whose view raised (answered 500), by audience.",
    ["audience"],
)
HTTP_DURATION = Histogram(
    "parloir_http_request_duration_seconds",
    "Seconds to answer an HTTP request, by audience.",
    ["audience"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WS_OPEN = Gauge(
    "parloir_websockets_open", "WebSockets open in this process, by audience.", ["audience"]
)
WS_CONNECTIONS = Counter(
    "parloir_websocket_connections", "WebSockets opened, by audience.", ["audience"]
)
WS_ERRORS = Counter(
    "parloir_websocket_errors",
    "WebSocket errors, by audience and kind: exception (the consumer raised), refused "
    "(closed by the server before it accepted).",
    ["audience", "kind"],
)
WS_CLOSES = Counter(
    "parloir_websocket_closes",
    "WebSockets closed by the server, by audience and close code (4403 refused, 4404 "
    "unknown call, 4409 replaced by another page, 1000 normal).",
    ["audience", "code"],
)
WORKER_PASS = Gauge(
    "parloir_worker_last_pass_timestamp_seconds",
    "When each worker loop in this process last finished a pass (Unix time).",
    ["worker"],
)
WORKER_FAILURES = Counter(
    "parloir_worker_pass_failures",
    "Worker passes that failed (an exception, logged), by worker.",
    ["worker"],
)
SLOWLINKS = Counter(
    "parloir_media_slowlinks",
    "Janus's slowlink reports (heavy packet loss on one side's link), by side (kiosk, "
    "relative) and direction (uplink: what Janus receives; downlink: what it sends).",
    ["side", "direction"],
)
SLOWLINK_LOST = Counter(
    "parloir_media_slowlink_lost_packets",
    "Packets lost, as Janus's slowlink reports count them, by side and direction.",
    ["side", "direction"],
)
MEDIA_PROBE_FAILURES = Counter(
    "parloir_media_probe_failures",
    "Health probes of a media node's admin API that failed, by node.",
    ["node"],
)


def _after_commit(fn) -> None:
    # Outside a transaction on_commit runs at once, as the event then happened.
    transaction.on_commit(fn)


def audience(path: str) -> str:
    """The page family of a request path: a bounded label that names nobody."""
    for prefix, name in (
        ("/console/", "console"),
        ("/kiosk/", "kiosk"),
        ("/admin/", "admin"),
        ("/ws/console", "console"),
        ("/ws/kiosk", "kiosk"),
        ("/ws/", "call"),
        ("/notify/", "api"),
        ("/metrics", "metrics"),
        ("/healthz", "health"),
        ("/livez", "health"),
        ("/static/", "static"),
    ):
        if path.startswith(prefix):
            return name
    return "portal"


def worker_pass(worker: str, ok: bool = True) -> None:
    WORKER_PASS.labels(worker).set(time.time())
    if not ok:
        WORKER_FAILURES.labels(worker).inc()


# Calls ----------------------------------------------------------------------------------


def call_moved(call, to_state: str) -> None:
    """A locked call moves to ``to_state`` (calls.actions._transition)."""
    from calls.models import Call

    S = Call.State
    if to_state in (S.RELATIVE_JOINED, S.LIVE):
        since = _calling_at(call.pk)
        if since is not None:
            stage = "live" if to_state == S.LIVE else "relative_joined"
            seconds = max(0.0, time.time() - since.timestamp())
            _after_commit(lambda: CALL_SETUP.labels(stage).observe(seconds))
    elif to_state in Call.FINAL_STATES:
        # The reason is set just after the transition, before the commit.
        _after_commit(lambda: CALLS_ENDED.labels(to_state, call.end_reason or "none").inc())


def _calling_at(call_id: int):
    from calls.models import CallTransition

    return (
        CallTransition.objects.filter(call_id=call_id, to_state="calling")
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )


def media_lost(cause: str) -> None:
    _after_commit(lambda: MEDIA_OUTAGES.labels(cause).inc())


def outage_closed(seconds: int, given_back: int, lost: int) -> None:
    def count() -> None:
        OUTAGE_DURATION.observe(seconds)
        OUTAGE_GIVEN_BACK.inc(given_back)
        OUTAGE_LOST.inc(lost)

    _after_commit(count)


# Messages -------------------------------------------------------------------------------


def message_changed(message) -> None:
    """A message's status changed (notify.actions._changed), inside its transaction."""
    channel, purpose, status = message.channel, message.purpose, message.status
    delivered = status == "delivered" and message.delivered_at is not None
    latency = (message.delivered_at - message.created_at).total_seconds() if delivered else None
    setup = None
    if delivered and purpose == "call_code":
        from calls.models import CallCode

        call_id = (
            CallCode.objects.filter(message_id=message.pk).values_list("call_id", flat=True).first()
        )
        since = _calling_at(call_id) if call_id is not None else None
        if since is not None:
            setup = max(0.0, (message.delivered_at - since).total_seconds())

    def count() -> None:
        MESSAGES.labels(channel, purpose, status).inc()
        if latency is not None:
            MESSAGE_DELIVERY.labels(channel, purpose).observe(max(0.0, latency))
        if setup is not None:
            CALL_SETUP.labels("code_delivered").observe(setup)

    _after_commit(count)


# Recordings -----------------------------------------------------------------------------


def recording_processed(state: str, started_monotonic: float) -> None:
    seconds = time.monotonic() - started_monotonic

    def count() -> None:
        RECORDINGS_PROCESSED.labels(state).inc()
        RECORDING_PROCESSING.observe(seconds)

    _after_commit(count)


# Media -------------------------------------------------------------------------------------


def slowlink(side: str, data: dict) -> None:
    """A slowlink event of a call's publisher handle (calls.consumers)."""
    direction = "uplink" if data.get("uplink") else "downlink"
    SLOWLINKS.labels(side, direction).inc()
    lost = data.get("lost")
    if isinstance(lost, int) and lost > 0:
        SLOWLINK_LOST.labels(side, direction).inc(lost)
