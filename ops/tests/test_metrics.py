"""What /metrics says after real actions: calls, set-up times, media outages, messages,
media nodes, recordings, the audit chain, HTTP and WebSocket errors."""

from datetime import timedelta

import pytest
import time_machine
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.log import record
from calls import actions
from calls.models import Call, MediaOutage, Participant
from calls.tests.helpers import ready_call, start
from media.models import MediaNode
from notify.models import Message
from ops.tests.helpers import live_call as _live_call
from ops.tests.helpers import node as _node
from ops.tests.helpers import scrape, value
from ops.views import database
from tests.factories import EstablishmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_state(settings):
    # The database part is cached a few seconds: each test reads what it just did.
    settings.METRICS_CACHE_SECONDS = 0
    database.forget()


def test_a_call_from_appeler_to_its_end_is_counted_with_its_set_up_times(client):
    before = scrape(client)
    call = _live_call()
    during = scrape(client)
    actions.do_end_call(call, Call.EndReason.HUNG_UP_RELATIVE, by="relative")
    after = scrape(client)

    for stage in ("code_delivered", "relative_joined", "live"):
        name = "parloir_call_setup_seconds_count"
        assert value(during, name, stage=stage) == value(before, name, stage=stage) + 1, stage
    # Set up within the test's few seconds: in the first buckets, not beyond.
    assert value(during, "parloir_call_setup_seconds_bucket", stage="live", le="60.0") == value(
        during, "parloir_call_setup_seconds_count", stage="live"
    )
    assert value(during, "parloir_calls_open", state="live") >= 1
    ended = ("parloir_calls_ended_total", {"state": "ended", "end_reason": "hung_up_relative"})
    assert value(after, ended[0], **ended[1]) == value(before, ended[0], **ended[1]) + 1
    assert value(after, "parloir_calls_open", state="live") == (
        value(during, "parloir_calls_open", state="live") - 1
    )


def test_a_rolled_back_transition_is_not_counted(client):
    from django.db import transaction

    call = start(ready_call())
    before = scrape(client)
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.do_end_call(call, Call.EndReason.CANCELLED, by="kiosk")
        raise RuntimeError("rolled back")
    after = scrape(client)
    name, labels = "parloir_calls_ended_total", {"state": "no_answer", "end_reason": "cancelled"}
    assert value(after, name, **labels) == value(before, name, **labels)


def test_media_interruptions_and_the_seconds_given_back_are_counted(client):
    call = _live_call()
    before = scrape(client)
    lost_at = timezone.now()
    actions.do_media_lost(
        call, node_id=call.media_node_id, room_id=1001, cause="node_down", since=lost_at
    )
    with time_machine.travel(lost_at + timedelta(seconds=42), tick=False):
        actions.do_assign_room(call, node=_node("node-b"), room_id=2002, pin="p", secret="s")
        for role in ("kiosk", "relative"):
            participant = Participant.objects.get(call=call, role=role, left_at__isnull=True)
            actions.do_note_published(participant, 8000 + len(role))
            actions.do_mark_media_up(call, role)
    assert MediaOutage.objects.get(call=call).given_back_seconds == 42
    after = scrape(client)
    assert value(after, "parloir_media_outages_total", cause="node_down") == (
        value(before, "parloir_media_outages_total", cause="node_down") + 1
    )
    assert value(after, "parloir_media_outage_given_back_seconds_total") == (
        value(before, "parloir_media_outage_given_back_seconds_total") + 42
    )
    assert value(after, "parloir_media_outage_duration_seconds_count") == (
        value(before, "parloir_media_outage_duration_seconds_count") + 1
    )


def test_messages_are_counted_by_channel_and_status_with_their_delivery_time(client):
    before = scrape(client)
    start(ready_call())  # the code goes to the outbox, delivered at once
    after = scrape(client)
    labels = {"channel": "sms", "purpose": "call_code", "status": "delivered"}
    assert value(after, "parloir_messages_total", **labels) == (
        value(before, "parloir_messages_total", **labels) + 1
    )
    count = "parloir_message_delivery_seconds_count"
    assert value(after, count, channel="sms", purpose="call_code") == (
        value(before, count, channel="sms", purpose="call_code") + 1
    )
    assert value(after, "parloir_messages_last_hour", **labels) >= 1


def test_a_code_message_not_delivered_after_two_minutes_is_late(client):
    establishment = EstablishmentFactory()
    sent = Message.objects.create(
        establishment=establishment,
        to_number="+33612345678",
        channel="sms",
        language="fr",
        purpose="call_code",
        text="Code 123456",
        status="sent",
        backend="kannel",
        created_at=timezone.now() - timedelta(minutes=3),
    )
    assert value(scrape(client), "parloir_code_messages_late", channel="sms") == 1
    Message.objects.filter(pk=sent.pk).update(status="delivered")
    assert value(scrape(client), "parloir_code_messages_late", channel="sms") == 0


def test_media_nodes_report_their_state_load_capacity_and_calls(client):
    _live_call(node=_node("node-a"))
    _node("node-b", state=MediaNode.State.DOWN)
    samples = scrape(client)
    assert value(samples, "parloir_media_node_up", node="node-a") == 1
    assert value(samples, "parloir_media_node_up", node="node-b") == 0
    assert value(samples, "parloir_media_node_state", node="node-b", state="down") == 1
    assert value(samples, "parloir_media_node_rooms", node="node-a") == 3
    assert value(samples, "parloir_media_node_capacity_rooms", node="node-a") == 12
    assert value(samples, "parloir_media_node_calls", node="node-a") == 1
    assert value(samples, "parloir_media_node_last_seen_age_seconds", node="node-a") < 60
    # No packet loss measured yet: no figure rather than a false 0.
    assert ("parloir_media_node_packet_loss_ratio", (("node", "node-a"),)) not in samples
    MediaNode.objects.filter(name="node-a").update(
        packet_loss_percent=2.5, packet_loss_at=timezone.now()
    )
    assert value(scrape(client), "parloir_media_node_packet_loss_ratio", node="node-a") == 0.025


def test_recordings_waiting_are_counted_with_the_oldest_ones_age(client):
    from recordings.models import Recording

    call = _live_call()
    actions.do_end_call(call, Call.EndReason.TIME_UP, by="worker")
    Recording.objects.create(
        call=call,
        retention_days=90,
        retention_until=timezone.now() + timedelta(days=90),
        created_at=timezone.now() - timedelta(minutes=30),
    )
    samples = scrape(client)
    assert value(samples, "parloir_recordings_waiting", state="pending") == 1
    assert 1790 < value(samples, "parloir_recordings_oldest_pending_age_seconds") < 1900


def test_the_audit_chain_status_is_the_last_verification_on_this_host(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path  # this host's: no verification yet
    samples = scrape(client)
    assert ("parloir_audit_chain_ok", ()) not in samples  # never verified here
    establishment = EstablishmentFactory()
    for n in range(3):
        record("test.event", actor_label="test", establishment=establishment, data={"n": n})
    call_command("audit_verify")
    samples = scrape(client)
    assert value(samples, "parloir_audit_chain_ok") == 1
    assert value(samples, "parloir_audit_verify_timestamp_seconds") > 0
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE seq = 2", ['{"n": 99}'])
    with pytest.raises(Exception, match="row #2"):
        call_command("audit_verify")
    assert value(scrape(client), "parloir_audit_chain_ok") == 0


def test_storage_free_space_is_reported_per_volume(client):
    samples = scrape(client)
    assert value(samples, "parloir_storage_free_bytes", volume="var") > 0
    assert value(samples, "parloir_storage_size_bytes", volume="var") >= value(
        samples, "parloir_storage_free_bytes", volume="var"
    )


def test_http_errors_are_counted_by_audience_and_status_class(client):
    before = scrape(client)
    assert client.get("/console/no-such-page/").status_code == 404
    after = scrape(client)
    labels = {"audience": "console", "status": "4xx"}
    assert value(after, "parloir_http_responses_total", **labels) == (
        value(before, "parloir_http_responses_total", **labels) + 1
    )


async def test_a_refused_websocket_is_counted_as_an_error():
    from asgiref.sync import sync_to_async
    from django.test import Client

    from parloir.asgi import application

    client = Client()
    before = await sync_to_async(scrape)(client)
    communicator = WebsocketCommunicator(
        application, "/ws/console/", headers=[(b"origin", b"http://localhost")]
    )
    connected, code = await communicator.connect()
    assert not connected
    await communicator.disconnect()
    after = await sync_to_async(scrape)(client)
    name, labels = "parloir_websocket_errors_total", {"audience": "console", "kind": "refused"}
    assert value(after, name, **labels) == value(before, name, **labels) + 1


def test_no_label_names_a_person(client):
    call = _live_call()
    actions.do_end_call(call, Call.EndReason.HUNG_UP_DETAINEE, by="kiosk")
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    detainee, contact = call.detainee, call.contact
    for personal in (
        detainee.last_name,
        detainee.prison_number,
        contact.phone_number,
        contact.last_name,
        call.booking.room.name,
    ):
        assert personal and personal not in body, personal


def test_metrics_answer_only_the_monitoring_network_and_never_through_the_proxy(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7"
        ).status_code
        == 403
    )
    settings.METRICS_ALLOWED_NETWORKS = ["10.9.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 200
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 403
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="10.9.3.4", HTTP_AUTHORIZATION="Bearer s3cret-token"
        ).status_code
        == 200
    )


def test_janus_slowlink_reports_count_the_packets_lost_per_side(client):
    from ops import metrics

    before = scrape(client)
    # Janus's own message, as its publisher handle delivers it to the call's consumer.
    metrics.slowlink("relative", {"janus": "slowlink", "mid": "1", "media": "video",
                                  "uplink": True, "lost": 37})  # fmt: skip
    after = scrape(client)
    labels = {"side": "relative", "direction": "uplink"}
    assert value(after, "parloir_media_slowlinks_total", **labels) == (
        value(before, "parloir_media_slowlinks_total", **labels) + 1
    )
    assert value(after, "parloir_media_slowlink_lost_packets_total", **labels) == (
        value(before, "parloir_media_slowlink_lost_packets_total", **labels) + 37
    )
