"""What calls do when bookings or people change: listeners registered in CallsConfig.ready.

They run inside the transaction of the action that fired them: a call ends (and its
code dies) with the change that forbids it, or the change rolls back.
"""

from bookings.models import Via
from calls.actions import end_calls_for_suspension, end_calls_of
from calls.models import Call


def booking_cancelled(booking, *, via, actor, reason) -> None:
    # A call opened early (within the kiosk's tolerance) goes with its booking; the
    # detainee's own cancellation is his, any other is an interruption by staff.
    end_calls_of(
        Call.objects.filter(booking=booking),
        Call.EndReason.CANCELLED if via == Via.KIOSK else Call.EndReason.STAFF,
        staff=actor,
        detail="booking_cancelled",
    )


def contact_revoked(contact, *, actor) -> None:
    # Its call under way, or whose code is out, ends too: the code dies with it.
    end_calls_of(Call.objects.filter(contact=contact), staff=actor, detail="contact_revoked")


def suspension_decided(suspension, *, actor) -> None:
    # One that starts now ends the call under way; a later one is the worker's
    # (end_suspended), and its staff is the suspension's author in both cases.
    end_calls_for_suspension(suspension)
