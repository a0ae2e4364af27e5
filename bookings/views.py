"""The relative's calendar link: public, found only by its unguessable token."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event

from bookings.models import Booking


def calendar_for(booking: Booking) -> Calendar:
    """One event; a moved or cancelled booking keeps its UID and raises its SEQUENCE."""
    establishment = booking.room.quarter.establishment
    cal = Calendar()
    cal.add("prodid", "-//parloir//bookings//FR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"booking-{booking.pk}-{booking.token[:12]}@parloir")
    event.add("dtstamp", booking.booked_at)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("sequence", booking.sequence)
    event.add(
        "summary", gettext("Appel vidéo avec %(name)s") % {"name": booking.detainee.first_name}
    )
    event.add("location", establishment.name)
    event.add(
        "description",
        gettext(
            "Vous recevrez un code par SMS ou par appel au début de l'appel. "
            "En cas de problème : %(phone)s (%(hours)s)."
        )
        % {"phone": establishment.contact_phone, "hours": establishment.contact_hours},
    )
    cancelled = booking.status == Booking.Status.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    cal.add_component(event)
    return cal


@require_GET
def ics(request, token: str):
    booking = get_object_or_404(
        Booking.objects.select_related("room__quarter__establishment", "detainee", "contact"),
        token=token,
        # A booking the privacy purge unlinked from its people is no one's any more.
        detainee__isnull=False,
        contact__isnull=False,
    )
    with translation.override(booking.contact.language):
        body = calendar_for(booking).to_ical()
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="parloir.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
