"""Extension points of bookings for the layers above it (calls).

bookings.actions fires them inside its transaction; an exception from a listener rolls
the change back (parloir.hooks).
"""

from parloir.hooks import Hook

# A booking was cancelled (by the detainee at the kiosk, by staff, or by the system for
# a closure or a change in people): ``(booking, *, via, actor, reason)``. A call the
# kiosk opened early for it must not outlive it.
booking_cancelled = Hook("bookings.booking_cancelled")
on_booking_cancelled = booking_cancelled.register
