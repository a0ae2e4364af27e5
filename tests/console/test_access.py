"""Every console URL and socket, with two establishments: nobody sees the other's data."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import get_resolver, reverse

from parloir.asgi import application
from tests.factories import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _object_urls(side):
    call = side.call
    suspension_pk = 999999  # none exists: a 404 either way
    return {
        "console:call_watch": reverse("console:call_watch", args=[call.pk]),
        "console:call_warn": reverse("console:call_warn", args=[call.pk]),
        "console:call_interrupt": reverse("console:call_interrupt", args=[call.pk]),
        "console:call_remove_relative": reverse("console:call_remove_relative", args=[call.pk, 0]),
        "console:detainee": reverse("console:detainee", args=[call.detainee_id]),
        "console:detainee_suspend": reverse("console:detainee_suspend", args=[call.detainee_id]),
        "console:contact": reverse("console:contact", args=[call.contact_id]),
        "console:suspension_lift": reverse("console:suspension_lift", args=[suspension_pk]),
        "console:booking_detail": reverse("console:booking_detail", args=[call.booking_id]),
        "console:booking_cancel": reverse("console:booking_cancel", args=[call.booking_id]),
        "console:booking_no_show": reverse("console:booking_no_show", args=[call.booking_id]),
        "console:room_calendar": reverse("console:room_calendar", args=[call.booking.room_id]),
        "console:room_sheet": reverse("console:room_sheet", args=[call.booking.room_id]),
        **_recording_urls(call),
    }


def _recording_urls(call):
    """Recordings (www/console/recordings.py): the other side's call gets a recording, so
    its URLs name real rows; a replay session, hold and export are looked up by id too."""
    import uuid

    from django.utils import timezone

    from recordings.models import Hold, Recording

    recording, _ = Recording.objects.get_or_create(
        call=call, defaults={"retention_days": 90, "retention_until": timezone.now()}
    )
    hold = Hold.objects.create(recording=recording, kind="judicial", reference="PV 1")
    unknown = uuid.uuid4()  # sessions and exports are someone's own: a 404 either way
    return {
        "console:recording_detail": reverse("console:recording_detail", args=[recording.pk]),
        "console:recording_replay": reverse("console:recording_replay", args=[recording.pk]),
        "console:recording_player": reverse("console:recording_player", args=[unknown]),
        "console:recording_stream": reverse("console:recording_stream", args=[unknown]),
        "console:recording_hold": reverse("console:recording_hold", args=[recording.pk]),
        "console:recording_hold_lift": reverse("console:recording_hold_lift", args=[hold.pk]),
        "console:recording_export": reverse("console:recording_export", args=[recording.pk]),
        "console:recording_export_download": reverse(
            "console:recording_export_download", args=[unknown]
        ),
        "console:recording_retry": reverse("console:recording_retry", args=[recording.pk]),
    }


def test_every_console_url_with_an_object_is_covered(two_sides):
    a, _b = two_sides
    covered = set(_object_urls(a))
    namespace = get_resolver().namespace_dict["console"][1]
    with_args = {
        f"console:{name}"
        for name in namespace.reverse_dict
        if isinstance(name, str) and namespace.reverse_dict.getlist(name)[0][0][0][1]
    }
    missing = with_args - covered
    assert not missing, f"add these console URLs to the access test: {sorted(missing)}"


@pytest.mark.parametrize("role", ["director", "supervisor", "guard", "booking_officer", "auditor"])
def test_staff_of_one_establishment_get_404_on_every_url_of_the_other(client, two_sides, role):
    a, b = two_sides
    sign_in(client, a.staff[role])
    for name, url in _object_urls(b).items():
        response = (
            client.post(url, {"text": "x", "reason": "x", "category": "other"})
            if name
            in (
                "console:call_warn",
                "console:call_interrupt",
                "console:call_remove_relative",
                "console:detainee_suspend",
                "console:suspension_lift",
                "console:booking_cancel",
                "console:booking_no_show",
                "console:recording_replay",
                "console:recording_hold",
                "console:recording_hold_lift",
                "console:recording_export",
                "console:recording_retry",
            )
            else client.get(url)
        )
        assert response.status_code in (403, 404), (role, name, response.status_code)
    b.call.refresh_from_db()
    assert b.call.is_open
    assert not b.call.warnings.exists()
    assert not b.call.relatives.filter(removed_at__isnull=False).exists()


def test_the_wall_and_lists_show_only_ones_own_establishment(client, two_sides):
    a, b = two_sides
    sign_in(client, a.staff["guard"])
    page = client.get("/console/direct/").content.decode()
    assert f'data-call="{a.call.pk}"' in page
    assert f'data-call="{b.call.pk}"' not in page


@pytest.mark.parametrize(
    "role,url_name,allowed",
    [
        ("booking_officer", "console:call_watch", False),
        ("auditor", "console:call_watch", False),
        ("guard", "console:call_watch", True),
        ("booking_officer", "console:live_wall", False),
        ("guard", "console:audit", False),
        ("auditor", "console:audit", True),
    ],
)
def test_rights_follow_roles(client, two_sides, role, url_name, allowed):
    a, _b = two_sides
    sign_in(client, a.staff[role])
    args = [a.call.pk] if url_name == "console:call_watch" else []
    response = client.get(reverse(url_name, args=args))
    assert (response.status_code == 200) is allowed, response.status_code


def test_a_role_without_the_right_cannot_interrupt_nor_suspend(client, two_sides):
    a, _b = two_sides
    sign_in(client, a.staff["booking_officer"])
    client.post(
        reverse("console:call_interrupt", args=[a.call.pk]),
        {"category": "security", "reason": "x", "urgent": "1"},
    )
    client.post(
        reverse("console:detainee_suspend", args=[a.call.detainee_id]),
        {"ends_at": "2099-01-01T00:00", "reason": "x"},
    )
    a.call.refresh_from_db()
    assert a.call.is_open
    assert not a.call.detainee.suspensions.exists()


async def _ws(path, client):
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"cookie", cookie.encode())]
    )
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_a_monitor_of_another_establishment_is_refused_on_the_call_socket(client, two_sides):
    a, b = two_sides
    from asgiref.sync import sync_to_async

    await sync_to_async(sign_in)(client, a.staff["guard"])
    communicator, connected, _ = await _ws("/ws/call/", client)
    assert connected
    await communicator.send_to(text_data=json.dumps({"type": "hello", "call": b.call.pk}))
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert frame["code"] == "forbidden"
    assert (await communicator.receive_output(timeout=5))["code"] == 4403


async def test_the_console_socket_needs_the_second_factor(client, two_sides):
    a, _b = two_sides
    from asgiref.sync import sync_to_async

    await sync_to_async(sign_in)(client, a.staff["guard"], second_factor=False)
    communicator, connected, code = await _ws("/ws/console/", client)
    assert not connected
    assert code == 4403


async def test_the_console_socket_carries_only_ones_own_establishments_events(client, two_sides):
    a, b = two_sides
    from asgiref.sync import sync_to_async

    from calls import actions

    await sync_to_async(sign_in)(client, a.staff["guard"])
    communicator, connected, _ = await _ws("/ws/console/", client)
    assert connected
    await sync_to_async(actions.do_end_call)(b.call, "cancelled", by="test")
    await sync_to_async(actions.do_end_call)(a.call, "cancelled", by="test")
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert frame["call"] == a.call.pk
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
