"""Replay in the console: who may, the reason asked and audited, byte ranges that are the
right bytes, holds and exports from the page, and the destruction log."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from recordings import export, keys, replay, retention
from recordings.models import Export, Hold, Recording, ReplaySession
from recordings.tests import helpers
from tests.factories import sign_in, staff_with_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rec_settings")]

REASON = "Vérification après un incident signalé au parloir"


@pytest.fixture
def establishment(recording):
    return recording.call.booking.room.quarter.establishment


def _as(client, role, establishment):
    user = staff_with_role(role, establishment)
    sign_in(client, user)
    return user


def _start(client, recording, reason=REASON):
    return client.post(reverse("console:recording_replay", args=[recording.pk]), {"reason": reason})


def _plaintext(recording) -> bytes:
    with keys.open_plaintext(recording) as media:
        return b"".join(media)


def test_a_supervisor_replays_with_a_reason_and_it_is_audited(client, recording, establishment):
    user = _as(client, "supervisor", establishment)
    listing = client.get(reverse("console:recordings")).content.decode()
    assert recording.call.detainee.prison_number in listing

    response = _start(client, recording)

    session = ReplaySession.objects.get(recording=recording)
    assert response.url == reverse("console:recording_player", args=[session.pk])
    assert (session.staff, session.reason) == (user, REASON)
    event = AuditEvent.objects.get(seq=session.audit_seq)
    assert (event.action, event.actor, event.data["reason"]) == ("recording.replayed", user, REASON)
    page = client.get(response.url).content.decode()
    assert reverse("console:recording_stream", args=[session.pk]) in page and "<video" in page
    detail = client.get(reverse("console:recording_detail", args=[recording.pk])).content.decode()
    assert REASON in detail  # the history of consultations


def test_no_reason_no_replay(client, recording, establishment):
    _as(client, "supervisor", establishment)
    for reason in ("", "   ", "vu"):
        response = _start(client, recording, reason)
        assert response.status_code == 302
        assert response.url == reverse("console:recording_detail", args=[recording.pk])
    assert not ReplaySession.objects.exists()
    assert not AuditEvent.objects.filter(action="recording.replayed").exists()


def test_the_stream_serves_the_right_bytes_for_every_range(client, recording, establishment):
    _as(client, "director", establishment)
    _start(client, recording)
    session = ReplaySession.objects.get()
    url = reverse("console:recording_stream", args=[session.pk])
    plaintext = _plaintext(recording)
    size = len(plaintext)

    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == plaintext
    assert whole["Content-Type"] == "video/webm" and "no-store" in whole["Cache-Control"]

    for header, start, end in [
        ("bytes=0-1", 0, 1),
        ("bytes=1000-70000", 1000, 70000),  # across a chunk boundary (64 KiB)
        ("bytes=65536-65536", 65536, 65536),
        (f"bytes={size - 100}-", size - 100, size - 1),
        ("bytes=-10", size - 10, size - 1),
        (f"bytes=5-{size + 1000}", 5, size - 1),
    ]:
        part = client.get(url, HTTP_RANGE=header)
        assert part.status_code == 206, header
        assert part["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert int(part["Content-Length"]) == end - start + 1
        assert b"".join(part.streaming_content) == plaintext[start : end + 1], header

    refused = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{size}"
    assert client.get(url, HTTP_RANGE="bytes=0-1,5-6").status_code == 200  # one range only
    session.refresh_from_db()
    assert session.requests == 8 and session.last_request_at is not None


def test_an_altered_file_is_refused_and_flagged(client, recording, establishment):
    _as(client, "supervisor", establishment)
    _start(client, recording)
    session = ReplaySession.objects.get()
    stored = keys.open_plaintext(recording).path
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0xFF
    stored.write_bytes(bytes(data))
    url = reverse("console:recording_stream", args=[session.pk])

    with pytest.raises(Exception, match="fails authentication"):
        b"".join(client.get(url).streaming_content)

    recording.refresh_from_db()
    assert recording.flagged and recording.problem == Recording.Problem.TAMPERED
    assert AuditEvent.objects.filter(action="recording.integrity_failure").exists()
    stored.write_bytes(bytes(data[:-100]))
    assert client.get(url).status_code == 409  # cut short: refused before any byte


def test_other_establishments_and_roles_without_replay_see_nothing(client, recording, node):
    other = helpers.live_call(node, 902).booking.room.quarter.establishment
    detail = reverse("console:recording_detail", args=[recording.pk])

    _as(client, "director", other)
    assert client.get(detail).status_code == 404
    assert _start(client, recording).status_code == 404
    assert (
        recording.call.detainee.prison_number
        not in client.get(reverse("console:recordings")).content.decode()
    )

    establishment = recording.call.booking.room.quarter.establishment
    for role in ("guard", "booking_officer", "auditor"):
        client.logout()
        _as(client, role, establishment)
        assert client.get(detail).status_code == 403, role
        assert _start(client, recording).status_code == 403, role
    assert not ReplaySession.objects.exists()


def test_a_replay_session_is_its_owners_only_and_expires(client, recording, establishment):
    _as(client, "supervisor", establishment)
    _start(client, recording)
    session = ReplaySession.objects.get()
    url = reverse("console:recording_stream", args=[session.pk])

    client.logout()
    _as(client, "supervisor", establishment)
    assert client.get(url).status_code == 404
    client.logout()
    sign_in(client, session.staff)
    assert client.get(url, HTTP_RANGE="bytes=0-0").status_code == 206
    ReplaySession.objects.filter(pk=session.pk).update(expires_at=timezone.now())
    assert client.get(url).status_code == 404


def test_a_director_places_and_lifts_holds_from_the_page(client, recording, establishment):
    director = _as(client, "director", establishment)
    place = reverse("console:recording_hold", args=[recording.pk])
    client.post(place, {"kind": "disciplinary_appeal", "reference": ""})
    assert not Hold.objects.exists()

    client.post(place, {"kind": "disciplinary_appeal", "reference": "CD 2026-44"})
    hold = Hold.objects.get()
    assert hold.placed_by == director and Recording.objects.get(pk=recording.pk).held
    client.post(reverse("console:recording_hold_lift", args=[hold.pk]), {"reason": "Rejeté"})
    hold.refresh_from_db()
    assert hold.lifted_by == director and not Recording.objects.get(pk=recording.pk).held

    client.logout()
    _as(client, "supervisor", establishment)  # replays, but places no hold
    assert client.post(place, {"kind": "judicial", "reference": "X"}).status_code == 403


def test_an_export_shows_its_passphrase_once_and_is_downloaded_audited(
    client, recording, establishment, tmp_path, monkeypatch
):
    monkeypatch.setattr(export.fileformat, "SCRYPT_N", 2**14)  # speed only
    director = _as(client, "director", establishment)
    page = client.post(
        reverse("console:recording_export", args=[recording.pk]),
        {"authority": "Tribunal judiciaire de Nantes", "reference": "PV 2026/3141"},
    )
    package = Export.objects.get()
    assert page.status_code == 200 and "no-cache" in page["Cache-Control"]
    passphrase = page.context["passphrase"]
    assert passphrase in page.content.decode()

    download = client.get(reverse("console:recording_export_download", args=[package.pk]))
    assert download.status_code == 200
    path = tmp_path / "paquet.zip"
    path.write_bytes(b"".join(download.streaming_content))
    assert export.crypto.sha256_file(path) == package.sha256
    manifest = export.fileformat.open_package(path, passphrase, tmp_path / "out")
    assert manifest["reference"] == "PV 2026/3141"
    assert (tmp_path / "out" / "media.webm").read_bytes() == _plaintext(recording)
    actions = set(AuditEvent.objects.filter(actor=director).values_list("action", flat=True))
    assert {"recording.exported", "recording.export_downloaded", "recording.hold_placed"} <= actions
    assert Hold.objects.get().reference == "PV 2026/3141"

    export.remove_expired(package.available_until)
    gone = client.get(reverse("console:recording_export_download", args=[package.pk]))
    assert gone.status_code == 410


def test_the_destruction_log_page_and_its_signed_report(client, recording, establishment):
    retention.destroy(recording, reason="manual", actor_label="test")
    auditor = _as(client, "auditor", establishment)
    page = client.get(reverse("console:recording_destructions")).content.decode()
    assert str(recording.call_id) in page

    response = client.get(reverse("console:recording_destructions"), {"format": "json"})
    document = json.loads(response.content)
    assert retention.verify_report(document, replay.crypto.public_key_b64())
    assert document["report"]["entries"][0]["recording"] == str(recording.uuid)
    assert AuditEvent.objects.filter(
        action="recording.destruction_report_exported", actor=auditor
    ).exists()


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_ranges_stream_chunk_by_chunk(client, async_client, recording):
    from asgiref.sync import sync_to_async

    establishment = await sync_to_async(lambda: recording.call.booking.room.quarter.establishment)()
    await sync_to_async(_as)(client, "supervisor", establishment)
    async_client.cookies = client.cookies
    response = await async_client.post(
        reverse("console:recording_replay", args=[recording.pk]), {"reason": REASON}
    )
    stream = reverse("console:recording_stream", args=[response.url.rstrip("/").rsplit("/", 1)[-1]])
    plaintext = await sync_to_async(_plaintext)(recording)

    part = await async_client.get(stream, headers={"Range": "bytes=60000-200000"})

    assert part.status_code == 206 and part.is_async
    body = b"".join([piece async for piece in part.streaming_content])
    assert body == plaintext[60000:200001]


def test_the_pages_speak_english_too(client, recording, establishment, settings):
    _as(client, "director", establishment)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("console:recording_detail", args=[recording.pk])).content.decode()
    assert "Reason for replaying it" in page and "Holds on destruction" in page
    assert "Motif de la consultation" not in page
