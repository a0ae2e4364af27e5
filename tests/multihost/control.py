"""What a multi-host test sets up and reads, run on a web host against the deployment's
database, through parloir's own code: ``python -m tests.multihost.control CMD JSON``.
The answer is one JSON line."""

from __future__ import annotations

import json
import sys


def nodes(nodes: list[dict]) -> dict:
    from media.models import MediaNode

    for node in nodes:
        MediaNode.objects.update_or_create(
            name=node["name"],
            defaults={
                "ws_url": node["ws_url"],
                "admin_ws_url": node["admin_ws_url"],
                "recording_dir": node["recording_dir"],
                "ships_recordings": True,
                "capacity": 50,
            },
        )
    return node_states()


def node_states() -> dict:
    from media.models import MediaNode

    return dict(MediaNode.objects.values_list("name", "state"))


def drain(node: str, undo: bool = False) -> dict:
    from media.models import MediaNode
    from media.placement import drain as do_drain
    from media.placement import undrain

    (undrain if undo else do_drain)(MediaNode.objects.get(name=node))
    return node_states()


def _fresh_sequences() -> None:
    """Each run of this script starts the factories' sequences again: past what earlier
    runs made, so that names and numbers stay unique."""
    import factory

    import bookings.tests.factories
    import tests.factories
    from establishments.models import Establishment
    from people.models import StaffUser

    latest = [
        model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        for model in (Establishment, StaffUser)
    ]
    base = (sum(latest) + 1) * 50
    for module in (tests.factories, bookings.tests.factories):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, factory.django.DjangoModelFactory):
                value.reset_sequence(base, force=True)


def ready_calls(count: int = 1) -> dict:
    from calls.tests.helpers import ready_call

    _fresh_sequences()
    made = []
    for _ in range(count):
        ready = ready_call(minutes_into_slot=1, slot_minutes=30)
        made.append(
            {
                "booking": ready.booking.pk,
                "credential": ready.credential,
                "prison_number": ready.site.detainee.prison_number,
                "establishment": ready.site.establishment.pk,
            }
        )
    return {"calls": made}


def call(booking: int) -> dict:
    from calls.models import Call

    found = Call.objects.filter(booking_id=booking).select_related("media_node").first()
    if found is None:
        return {"state": None}
    return {
        "id": found.pk,
        "state": found.state,
        "end_reason": found.end_reason,
        "node": found.media_node.name if found.media_node else None,
        "epoch": found.media_epoch,
        "deadline": found.deadline.isoformat() if found.deadline else None,
        "given_back_seconds": found.given_back_seconds,
        "lost_seconds": found.lost_seconds,
        "codes": found.codes.count(),
        "rooms": [
            {
                "node": room.node.name,
                "room": room.room,
                "recording": room.recording,
                "closed": room.close_reason,
                "released": room.released_at is not None,
            }
            for room in found.rooms.select_related("node")
        ],  # fmt: skip
        "outages": [
            {
                "cause": o.cause,
                "seconds": o.seconds,
                "given_back": o.given_back_seconds,
                "lost": o.lost_seconds,
                "open": o.ended_at is None,
            }
            for o in found.outages.all()
        ],  # fmt: skip
        "participants": list(
            found.participants.filter(left_at__isnull=True).values_list("role", flat=True)
        ),
    }


def work_done(booking: int) -> dict:
    """How many times each piece of the call's work was done: with every worker running on
    both web hosts, each must be done once."""
    from collections import Counter

    from audit.models import AuditEvent
    from calls.models import Call
    from notify.models import Message
    from recordings.models import Recording

    call = Call.objects.get(booking_id=booking)
    return {
        "transitions": dict(Counter(call.transitions.values_list("to_state", flat=True))),
        "code_messages": Message.objects.filter(
            contact=call.contact, purpose=Message.Purpose.CALL_CODE
        ).count(),
        "recordings": Recording.objects.filter(call=call).count(),
        "ended_audits": AuditEvent.objects.filter(
            action="call.ended", target_id=str(call.pk)
        ).count(),
    }


def recording(booking: int) -> dict:
    from recordings.models import Recording

    found = Recording.objects.filter(call__booking_id=booking).first()
    if found is None:
        return {"state": None}
    return {
        "id": found.pk,
        "state": found.state,
        "problem": found.problem,
        "problem_detail": found.problem_detail,
        "last_error": found.last_error,
        "duration": found.duration_seconds,
        "sources_deleted": found.sources_deleted_at is not None,
        "attempts": found.attempts,
        "details": found.details,
    }


def replay_staff(establishment: int) -> dict:
    """A supervisor of that establishment (who may replay), with a second factor."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from establishments.models import Establishment
    from tests.factories import staff_with_role

    _fresh_sequences()
    password = "replay-test-password-1"
    user = staff_with_role("supervisor", Establishment.objects.get(pk=establishment))
    user.set_password(password)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return {"username": user.get_username(), "password": password, "totp_key": device.key}


def main() -> int:
    import django

    django.setup()
    command, arguments = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    result = globals()[command](**arguments)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
