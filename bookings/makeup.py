"""Make-up calls: the minutes a platform fault took from a call, booked again.

A call whose lost seconds (calls.models.MediaOutage: what could not be given back before
the room's next booking) reach ``MAKEUP_MIN_LOST_SECONDS`` is owed a make-up booking for
``MAKEUP_VALID_DAYS``. It is an ordinary booking of the detainee's quarter that counts
against no quota; one may be active per call at a time.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from bookings.models import Booking

MAKEUP_VALID_DAYS = 30


def owed_calls(detainee, now=None):
    """The detainee's calls that are owed a make-up, newest first."""
    from calls.models import Call

    now = now or timezone.now()
    active_makeup = Booking.objects.filter(makeup_for=OuterRef("pk")).exclude(
        status=Booking.Status.CANCELLED
    )
    return (
        Call.objects.filter(
            detainee=detainee,
            state__in=Call.FINAL_STATES,
            lost_seconds__gte=settings.MAKEUP_MIN_LOST_SECONDS,
            ended_at__gte=now - timedelta(days=MAKEUP_VALID_DAYS),
        )
        .exclude(Exists(active_makeup))
        .select_related("contact")
        .order_by("-ended_at")
    )


def is_owed(call, detainee) -> bool:
    return owed_calls(detainee).filter(pk=call.pk).exists()
