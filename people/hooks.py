"""Extension points of people for the layers above it (bookings, calls).

people.actions fires them inside its transaction, after its own change and its audit
record; an exception from a listener rolls the whole change back (parloir.hooks).
Each is called with the changed object and ``actor=`` the staff member (or None).
"""

from parloir.hooks import Hook

# An approved contact was revoked: nothing may still let the relative in.
contact_revoked = Hook("people.contact_revoked")
on_contact_revoked = contact_revoked.register

# A suspension was decided (it may start now or later).
suspension_decided = Hook("people.suspension_decided")
on_suspension_decided = suspension_decided.register

# The detainee is no longer present (transferred or released).
detainee_left = Hook("people.detainee_left")
on_detainee_left = detainee_left.register

# The detainee moved to another quarter of his establishment.
detainee_moved = Hook("people.detainee_moved")
on_detainee_moved = detainee_moved.register
