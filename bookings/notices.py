"""What notify asks of bookings before each try of a booking notice.

Registered by BookingsConfig.ready() for the three booking purposes.
"""

from datetime import datetime

from bookings.models import BookingNotice
from notify.models import Message

PURPOSES = (
    Message.Purpose.BOOKING_MADE,
    Message.Purpose.BOOKING_MOVED,
    Message.Purpose.BOOKING_CANCELLED,
)


def still_wanted(message: Message, at: datetime) -> bool:
    notice = BookingNotice.objects.select_related("booking").filter(message=message).first()
    # A message queued before notices were linked is sent as it always was.
    return notice is None or notice.still_wanted(at)
