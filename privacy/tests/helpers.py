"""A finished call through the real code paths (calls.actions), leaving every kind of row a
call leaves: a code and its message, consents with an address and a browser, participants,
a staff warning, a room with its secrets, transitions."""

from datetime import timedelta

from django.utils import timezone

from calls import actions
from calls.models import Call
from calls.tests.helpers import ready_call, start
from media.models import MediaNode
from recordings.models import Recording
from tests.factories import staff_with_role

CLIENT_IP = "203.0.113.77"
USER_AGENT = "Mozilla/5.0 (Linux; Android 9; TéléphoneDeTest)"


def finished_call(**rules) -> Call:
    ready = ready_call(**rules)
    call = start(ready)
    for kind in ("terms", "privacy", "monitoring"):
        actions.do_record_consent(
            call, kind, accepted=True, client_ip=CLIENT_IP, user_agent=USER_AGENT, language="fr"
        )
    actions.do_relative_waiting(call)
    node, _ = MediaNode.objects.get_or_create(
        name="node-privacy",
        defaults={
            "ws_url": "ws://127.0.0.1:8188",
            "admin_ws_url": "ws://127.0.0.1:7188",
            "recording_dir": "/nonexistent/privacy-test",
        },
    )
    actions.do_assign_room(call, node=node, room_id=4242 + call.pk, pin="pin-x", secret="sec-x")
    for role in ("kiosk", "relative"):
        actions.do_join(call, role)
        actions.do_mark_media_up(call, role)
    supervisor = staff_with_role("supervisor", ready.site.establishment)
    actions.do_warn(call, "Madame Benali, restez face à la caméra", staff=supervisor)
    actions.do_end_call(call, Call.EndReason.HUNG_UP_RELATIVE, by="test")
    return Call.objects.select_related("booking", "contact", "detainee").get(pk=call.pk)


def pending_recording(call: Call) -> Recording:
    """A recording row, enough to hold: holds do not look at its files."""
    return Recording.objects.create(
        call=call, retention_days=90, retention_until=call.ended_at + timedelta(days=90)
    )


def travel(time_machine, since, days: float) -> None:
    time_machine.move_to(since + timedelta(days=days), tick=False)


def now():
    return timezone.now()
