"""What bookings do when people change. Called by people.actions inside its transaction.

The booking issue fills these in (cancel future bookings and tell the relatives).
"""


def contact_revoked(contact, *, actor) -> None:
    return None


def suspension_decided(suspension, *, actor) -> None:
    return None


def detainee_left(detainee, *, actor) -> None:
    return None
