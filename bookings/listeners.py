"""What bookings do when people change: listeners of people.hooks (BookingsConfig.ready).

They run inside people.actions' transaction. Each cancels the bookings that can no
longer take place and tells the relatives (bookings.actions.cancel_future_bookings).
The cancellation reason kept in the booking's history is the system's, not staff's
own wording.
"""

from django.db.models import Q
from django.utils.translation import gettext

from bookings.actions import cancel_future_bookings
from bookings.models import Booking, BookingContact
from people.models import Detainee


def contact_revoked(contact, *, actor) -> None:
    # A booking naming the contact among others goes too: its other contacts are told,
    # and the detainee books again without the revoked one.
    cancel_future_bookings(
        Booking.objects.filter(
            Q(contact=contact)
            | Q(pk__in=BookingContact.objects.filter(contact=contact).values("booking_id"))
        ),
        reason=gettext("Contact révoqué"),
        actor=actor,
        data={"contact_revoked": contact.pk},
    )


def suspension_decided(suspension, *, actor) -> None:
    # Lock the detainee as do_book does: a booking being written now either commits
    # first (and is cancelled here) or waits and then sees the suspension.
    Detainee.objects.select_for_update().filter(pk=suspension.detainee_id).exists()
    cancel_future_bookings(
        Booking.objects.filter(
            detainee_id=suspension.detainee_id,
            starts_at__lt=suspension.ends_at,
            ends_at__gt=suspension.starts_at,
        ),
        reason=gettext("Appels vidéo suspendus"),
        actor=actor,
        data={"suspension": suspension.pk},
    )


def detainee_left(detainee, *, actor) -> None:
    cancel_future_bookings(
        Booking.objects.filter(detainee=detainee),
        reason=gettext("Transfert ou libération"),
        actor=actor,
        data={"detainee_status": detainee.status},
    )


def detainee_moved(detainee, *, actor) -> None:
    # The kiosk signs a detainee in only in his quarter's room: bookings in the rooms of
    # the quarter he left can no longer take place.
    cancel_future_bookings(
        Booking.objects.filter(detainee=detainee).exclude(room__quarter_id=detainee.quarter_id),
        reason=gettext("Changement de quartier"),
        actor=actor,
        data={"quarter": detainee.quarter_id},
    )
