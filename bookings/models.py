"""Booking the video room: rules per establishment, opening hours, closures, bookings.

Times: opening hours are local wall-clock times (the establishment's zone); closures
and bookings are aware instants stored in UTC. See docs/bookings.md.
"""

import secrets
from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from establishments.models import Establishment, Quarter, VideoRoom
from people.models import AuthorizedContact, Detainee, StaffUser


class Via(models.TextChoices):
    KIOSK = "kiosk", _("Borne (personne détenue)")
    STAFF = "staff", _("Agent (à la demande de la personne détenue)")
    SYSTEM = "system", _("Système")


class BookingRules(models.Model):
    """The booking rules of an establishment, or of one quarter or room that differs.

    An override row is complete: the rules for a room are the room's row if it has
    one, else its quarter's, else the establishment's (never a mix of rows).
    """

    ESTABLISHMENT_PATH = "establishment"

    class WhoMayBook(models.TextChoices):
        KIOSK = "kiosk", _("La personne détenue, à la borne")
        STAFF = "staff", _("Un agent, à la demande de la personne détenue")
        BOTH = "both", _("Les deux")

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="booking_rules"
    )
    quarter = models.ForeignKey(
        Quarter, on_delete=models.CASCADE, null=True, blank=True, related_name="booking_rules"
    )
    room = models.ForeignKey(
        VideoRoom, on_delete=models.CASCADE, null=True, blank=True, related_name="booking_rules"
    )
    slot_minutes = models.PositiveSmallIntegerField(_("durée d'un créneau (minutes)"), default=30)
    gap_minutes = models.PositiveSmallIntegerField(
        _("battement entre créneaux (minutes)"), default=0
    )
    max_days_ahead = models.PositiveSmallIntegerField(
        _("réservation au plus tôt (jours avant)"), default=14
    )
    min_notice_minutes = models.PositiveIntegerField(
        _("réservation au plus tard (minutes avant)"), default=60
    )
    weekly_quota = models.PositiveSmallIntegerField(_("appels par semaine"), default=2)
    monthly_quota = models.PositiveSmallIntegerField(_("appels par mois"), default=8)
    who_may_book = models.CharField(
        _("qui peut réserver"), max_length=5, choices=WhoMayBook.choices, default=WhoMayBook.BOTH
    )
    cancel_notice_minutes = models.PositiveIntegerField(
        _("annulation par la personne détenue au plus tard (minutes avant)"), default=120
    )
    call_tolerance_minutes = models.PositiveSmallIntegerField(
        _("tolérance de début d'appel (minutes)"), default=5
    )

    class Meta:
        verbose_name = _("règles de réservation")
        verbose_name_plural = _("règles de réservation")
        constraints = [
            models.CheckConstraint(
                condition=Q(quarter__isnull=True) | Q(room__isnull=True),
                name="rules_quarter_or_room",
                violation_error_message=_("Une règle vise un quartier ou un local, pas les deux."),
            ),
            models.UniqueConstraint(
                fields=["establishment"],
                condition=Q(quarter__isnull=True, room__isnull=True),
                name="rules_once_per_establishment",
            ),
            models.UniqueConstraint(
                fields=["quarter"],
                condition=Q(quarter__isnull=False),
                name="rules_once_per_quarter",
            ),
            models.UniqueConstraint(
                fields=["room"], condition=Q(room__isnull=False), name="rules_once_per_room"
            ),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=20, slot_minutes__lte=30),
                name="rules_slot_20_30",
                violation_error_message=_("Un créneau dure de 20 à 30 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(gap_minutes__lte=60),
                name="rules_gap_0_60",
                violation_error_message=_("Le battement est d'au plus 60 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(max_days_ahead__gte=1, max_days_ahead__lte=90),
                name="rules_days_ahead_1_90",
                violation_error_message=_("On réserve de 1 à 90 jours à l'avance."),
            ),
            models.CheckConstraint(
                condition=Q(min_notice_minutes__lte=7 * 24 * 60),
                name="rules_notice_max_week",
                violation_error_message=_("Le délai de réservation est d'au plus une semaine."),
            ),
            models.CheckConstraint(
                condition=Q(weekly_quota__gte=1, weekly_quota__lte=50),
                name="rules_weekly_quota_1_50",
                violation_error_message=_("Le quota hebdomadaire est de 1 à 50 appels."),
            ),
            models.CheckConstraint(
                condition=Q(monthly_quota__gte=F("weekly_quota"), monthly_quota__lte=250),
                name="rules_monthly_quota_range",
                violation_error_message=_(
                    "Le quota mensuel est au moins le quota hebdomadaire, et au plus 250."
                ),
            ),
            models.CheckConstraint(
                condition=Q(who_may_book__in=["kiosk", "staff", "both"]),
                name="rules_who_may_book_valid",
            ),
            models.CheckConstraint(
                condition=Q(cancel_notice_minutes__lte=7 * 24 * 60),
                name="rules_cancel_notice_max_week",
                violation_error_message=_("Le délai d'annulation est d'au plus une semaine."),
            ),
            models.CheckConstraint(
                condition=Q(call_tolerance_minutes__lte=15),
                name="rules_tolerance_0_15",
                violation_error_message=_("La tolérance est d'au plus 15 minutes."),
            ),
        ]

    def __str__(self) -> str:
        if self.room_id:
            return f"{_('Règles')} – {self.room}"
        if self.quarter_id:
            return f"{_('Règles')} – {self.quarter}"
        return f"{_('Règles')} – {self.establishment}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.quarter_id and self.quarter.establishment_id != self.establishment_id:
            raise ValidationError({"quarter": _("Ce quartier n'est pas dans l'établissement.")})
        if self.room_id and self.room.quarter.establishment_id != self.establishment_id:
            raise ValidationError({"room": _("Ce local n'est pas dans l'établissement.")})

    def allows(self, via: str) -> bool:
        return self.who_may_book == self.WhoMayBook.BOTH or self.who_may_book == via


class OpeningHours(models.Model):
    """One opening window of a room on a weekday, in local wall-clock time.

    Attached to a room (its own hours) or to a rules row (the hours of every room
    those rules cover). Several windows a day are allowed; a window never spans
    midnight.
    """

    ESTABLISHMENT_PATH = "establishment"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Lundi")
        TUESDAY = 1, _("Mardi")
        WEDNESDAY = 2, _("Mercredi")
        THURSDAY = 3, _("Jeudi")
        FRIDAY = 4, _("Vendredi")
        SATURDAY = 5, _("Samedi")
        SUNDAY = 6, _("Dimanche")

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="opening_hours"
    )
    rules = models.ForeignKey(
        BookingRules, on_delete=models.CASCADE, null=True, blank=True, related_name="hours"
    )
    room = models.ForeignKey(
        VideoRoom, on_delete=models.CASCADE, null=True, blank=True, related_name="hours"
    )
    weekday = models.PositiveSmallIntegerField(_("jour"), choices=Weekday.choices)
    opens_at = models.TimeField(_("ouverture"))
    closes_at = models.TimeField(_("fermeture"))

    class Meta:
        verbose_name = _("horaire d'ouverture")
        verbose_name_plural = _("horaires d'ouverture")
        ordering = ["weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(rules__isnull=True) & Q(room__isnull=False))
                | (Q(rules__isnull=False) & Q(room__isnull=True)),
                name="hours_rules_xor_room",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="hours_weekday_0_6"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="hours_close_after_open",
                violation_error_message=_("La fermeture doit suivre l'ouverture."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class Closure(models.Model):
    """A period when no call may take place: in a room, a quarter, or the whole establishment."""

    ESTABLISHMENT_PATH = "establishment"

    class Kind(models.TextChoices):
        OUT_OF_SERVICE = "out_of_service", _("Local hors service")
        PUBLIC_HOLIDAY = "public_holiday", _("Jour férié")
        EXCEPTIONAL = "exceptional", _("Fermeture exceptionnelle")

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="closures"
    )
    quarter = models.ForeignKey(
        Quarter, on_delete=models.CASCADE, null=True, blank=True, related_name="closures"
    )
    room = models.ForeignKey(
        VideoRoom, on_delete=models.CASCADE, null=True, blank=True, related_name="closures"
    )
    kind = models.CharField(_("nature"), max_length=16, choices=Kind.choices)
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    reason = models.CharField(_("motif"), max_length=300)
    created_by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("fermeture")
        verbose_name_plural = _("fermetures")
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["establishment", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(quarter__isnull=True) | Q(room__isnull=True),
                name="closure_quarter_or_room",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="closure_ends_after_start",
                violation_error_message=_("La fin de la fermeture doit suivre son début."),
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["out_of_service", "public_holiday", "exceptional"]),
                name="closure_kind_valid",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="closure_reason_given"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} : {self.reason}"

    @staticmethod
    def covering(room: VideoRoom) -> Q:
        """The closures that apply to ``room``: its own, its quarter's, its establishment's."""
        return Q(establishment_id=room.quarter.establishment_id) & (
            Q(room=room)
            | Q(quarter_id=room.quarter_id)
            | Q(room__isnull=True, quarter__isnull=True)
        )


def new_token() -> str:
    # The calendar link is public: 32 random bytes make it unguessable.
    return secrets.token_urlsafe(32)


class Booking(models.Model):
    """A detainee's booking of a room for a call to one approved contact.

    The database refuses two active bookings of one room, or of one detainee, that
    overlap in time (bookings/db.py). ``status`` moves only through bookings.actions.
    """

    ESTABLISHMENT_PATH = "room__quarter__establishment"

    class Status(models.TextChoices):
        BOOKED = "booked", _("Réservé")
        CANCELLED = "cancelled", _("Annulé")
        NO_SHOW = "no_show", _("Absent")
        COMPLETED = "completed", _("Effectué")

    TRANSITIONS = {
        Status.BOOKED: {Status.CANCELLED, Status.NO_SHOW, Status.COMPLETED},
        Status.CANCELLED: set(),
        Status.NO_SHOW: set(),
        Status.COMPLETED: set(),
    }

    room = models.ForeignKey(VideoRoom, on_delete=models.PROTECT, related_name="bookings")
    # Empty once the privacy purge has unlinked a past booking from its people.
    detainee = models.ForeignKey(
        Detainee, on_delete=models.PROTECT, related_name="bookings", null=True
    )
    contact = models.ForeignKey(
        AuthorizedContact, on_delete=models.PROTECT, related_name="bookings", null=True
    )
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.BOOKED
    )
    booked_via = models.CharField(_("réservé par"), max_length=6, choices=Via.choices)
    booked_by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    booked_at = models.DateTimeField(_("réservé le"), default=timezone.now)
    # Copied from the rules when booked, so a later change of rules never moves the
    # window in which an already announced call may start.
    tolerance_minutes = models.PositiveSmallIntegerField(_("tolérance (minutes)"), default=5)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    # Bumped on every move or cancellation: calendar apps replace an event only when
    # its SEQUENCE grows.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    # A make-up for the minutes a platform fault took from that call: it counts against
    # no quota. One active make-up per call (bookings.makeup); a cancelled one may be
    # booked again.
    makeup_for = models.ForeignKey(
        "calls.Call",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="makeup_bookings",
        verbose_name=_("rattrapage de l'appel"),
    )

    class Meta:
        verbose_name = _("réservation")
        verbose_name_plural = _("réservations")
        ordering = ["starts_at", "room"]
        indexes = [
            models.Index(fields=["room", "starts_at"]),
            models.Index(fields=["detainee", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="booking_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["booked", "cancelled", "no_show", "completed"]),
                name="booking_status_valid",
            ),
            models.CheckConstraint(
                condition=(Q(booked_via="staff") & Q(booked_by__isnull=False))
                | (Q(booked_via__in=["kiosk", "system"]) & Q(booked_by__isnull=True)),
                name="booking_staff_named",
            ),
            models.CheckConstraint(
                condition=Q(tolerance_minutes__lte=15), name="booking_tolerance_0_15"
            ),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at, self.room.quarter.establishment.zone)
        return f"{self.detainee} – {self.room.name} – {local:%d/%m/%Y %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.CANCELLED

    def local_start(self, zone=None) -> datetime:
        return timezone.localtime(self.starts_at, zone or self.room.quarter.establishment.zone)

    def local_end(self, zone=None) -> datetime:
        return timezone.localtime(self.ends_at, zone or self.room.quarter.establishment.zone)

    def all_contacts(self) -> list[AuthorizedContact]:
        """Every contact the booking names: ``contact`` first, then the others in order.

        Empty once the privacy purge has unlinked the booking (its people are gone)."""
        others = [row.contact for row in self.other_contacts.select_related("contact")]
        return [self.contact, *others] if self.contact is not None else others


class BookingContact(models.Model):
    """A contact a booking names besides ``Booking.contact`` (issue #19).

    ``Booking.contact`` stays the first contact of every booking (positions start at 1
    here), so that a booking of one contact, and everything written before this table,
    reads as before. At most ``Establishment.max_relatives_per_call`` contacts in all,
    and never more than the call layer reaches (settings.CALL_RELATIVES_SUPPORTED):
    bookings/contacts.py.
    """

    ESTABLISHMENT_PATH = "booking__room__quarter__establishment"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="other_contacts")
    contact = models.ForeignKey(
        AuthorizedContact, on_delete=models.PROTECT, related_name="other_bookings"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        verbose_name = _("autre contact de la réservation")
        verbose_name_plural = _("autres contacts de la réservation")
        ordering = ["booking", "position"]
        constraints = [
            models.UniqueConstraint(fields=["booking", "contact"], name="booking_contact_once"),
            models.UniqueConstraint(
                fields=["booking", "position"], name="booking_contact_position_once"
            ),
            models.CheckConstraint(
                condition=Q(position__gte=1, position__lte=3), name="booking_contact_position_1_3"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.booking_id}#{self.position} → {self.contact_id}"


class BookingTransition(models.Model):
    """The life of a booking: made, moved, cancelled, marked absent or done; by whom and why."""

    ESTABLISHMENT_PATH = "booking__room__quarter__establishment"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(
        max_length=10, choices=Booking.Status.choices, blank=True, default=""
    )
    to_status = models.CharField(max_length=10, choices=Booking.Status.choices)
    moved = models.BooleanField(default=False)
    via = models.CharField(max_length=6, choices=Via.choices)
    by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(_("motif"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("historique de réservation")
        verbose_name_plural = _("historiques de réservation")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class BookingNotice(models.Model):
    """Which booking a message told of, and as it stood then (its ``sequence``).

    A notice waiting for a retry is dropped once the booking has moved on: a "booked"
    text arriving after the "cancelled" one would send the relative to a call that
    will not happen.
    """

    message = models.OneToOneField(
        "notify.Message", on_delete=models.CASCADE, related_name="booking_notice"
    )
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="notices")
    sequence = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("avis de réservation")
        verbose_name_plural = _("avis de réservation")

    def __str__(self) -> str:
        return f"{self.booking_id}#{self.sequence} → {self.message_id}"

    def still_wanted(self, at: datetime) -> bool:
        booking = self.booking
        if booking.sequence != self.sequence:
            return False
        if booking.status == Booking.Status.CANCELLED:
            return True
        # Telling of a call after its time helps nobody.
        return booking.status == Booking.Status.BOOKED and booking.starts_at > at
