"""The contacts a booking names: one to N (issue #19, docs/bookings.md "Several contacts").

``Booking.contact`` is the first; ``BookingContact`` rows hold the others. How many a
booking may name is the establishment's ``max_relatives_per_call``, never more than the
call layer reaches (``settings.CALL_RELATIVES_SUPPORTED``): a contact told of a booking
must get a code when the detainee calls.
"""

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from establishments.models import Establishment
from people.models import AuthorizedContact, Detainee


def limit(establishment: Establishment) -> int:
    """How many contacts one booking of ``establishment`` may name now."""
    return max(1, min(establishment.max_relatives_per_call, settings.CALL_RELATIVES_SUPPORTED))


def lock_and_check(
    detainee: Detainee, contacts: Sequence[AuthorizedContact]
) -> list[AuthorizedContact]:
    """Lock ``contacts`` (in id order, after the detainee: bookings.actions' lock order) and
    check each: this detainee's, approved, named once, within the limit; a lawyer is
    booked alone or with one interpreter (the call stays unrecorded and unwatched, and
    nobody else is in it), and an interpreter only with a lawyer.

    Returns them in the order given, fresh from the database.
    """
    if not contacts:
        raise ValidationError(_("Choisissez au moins un contact."), code="contacts")
    ids = [contact.pk for contact in contacts]
    if len(set(ids)) != len(ids):
        raise ValidationError(_("Un même contact est nommé deux fois."), code="contacts")
    maximum = limit(detainee.establishment)
    if len(ids) > maximum:
        raise ValidationError(
            _("Un appel réunit au plus %(max)d proche(s) dans cet établissement."),
            code="contacts",
            params={"max": maximum},
        )
    locked = {
        contact.pk: contact
        for contact in AuthorizedContact.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
    }
    ordered = [locked.get(pk) for pk in ids]
    for contact in ordered:
        if contact is None or contact.detainee_id != detainee.pk or not contact.is_approved:
            raise ValidationError(
                _("Ce contact n'est pas autorisé pour cette personne détenue."), code="contact"
            )
    relationship = AuthorizedContact.Relationship
    lawyers = [c for c in ordered if c.relationship == relationship.LAWYER]
    interpreters = [c for c in ordered if c.relationship == relationship.INTERPRETER]
    if interpreters and not lawyers:
        raise ValidationError(
            _("Un interprète ne participe qu'à un appel avec un avocat."), code="contacts"
        )
    if lawyers and (
        len(lawyers) > 1
        or len(interpreters) > 1
        or len(ordered) > 2
        or (len(ordered) == 2 and not interpreters)
    ):
        raise ValidationError(
            _("Un appel avec un avocat ne réunit que l'avocat et, au besoin, un interprète."),
            code="contacts",
        )
    return ordered


def is_for_lawyer(contacts: Sequence[AuthorizedContact]) -> bool:
    return any(c.relationship == AuthorizedContact.Relationship.LAWYER for c in contacts)
