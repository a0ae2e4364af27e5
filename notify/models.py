from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    """A message to a relative (SMS or voice call) and what became of it."""

    ESTABLISHMENT_PATH = "establishment"

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        VOICE = "voice", _("Appel vocal")

    class Status(models.TextChoices):
        QUEUED = "queued", _("En file")
        SENT = "sent", _("Envoyé")
        DELIVERED = "delivered", _("Remis")
        FAILED = "failed", _("Échec")

    class Purpose(models.TextChoices):
        CALL_CODE = "call_code", _("Code d'appel")
        BOOKING_MADE = "booking_made", _("Réservation")
        BOOKING_MOVED = "booking_moved", _("Réservation déplacée")
        BOOKING_CANCELLED = "booking_cancelled", _("Réservation annulée")
        OTHER = "other", _("Autre")

    establishment = models.ForeignKey(
        "establishments.Establishment", on_delete=models.PROTECT, related_name="messages"
    )
    contact = models.ForeignKey(
        "people.AuthorizedContact", on_delete=models.PROTECT, related_name="messages", null=True
    )
    to_number = models.CharField(_("destinataire"), max_length=16)
    channel = models.CharField(_("canal"), max_length=5, choices=Channel.choices)
    language = models.CharField(_("langue"), max_length=10)
    purpose = models.CharField(_("objet"), max_length=20, choices=Purpose.choices)
    text = models.TextField(_("texte"))
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    backend = models.CharField(_("passerelle"), max_length=40)
    provider_ref = models.CharField(max_length=100, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # A voice call reads these digits one by one; an SMS carries ``text`` only.
    spoken_digits = models.CharField(_("chiffres lus"), max_length=12, blank=True)
    # Past this moment the message is useless (an expired code): no retry, no fallback.
    valid_until = models.DateTimeField(_("valable jusqu'au"), null=True, blank=True)
    # The channel to try once this one has failed (an ambiguous line: SMS, then voice).
    fallback_channel = models.CharField(
        _("canal de secours"), max_length=5, choices=Channel.choices, blank=True
    )
    # When a queued message is due (retries wait here) and until when a worker holds it.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Set by the privacy purge: number, text and digits are gone (privacy.purge).
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=["sms", "voice"]), name="message_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sent", "delivered", "failed"]),
                name="message_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(to_number__regex=r"^\+[1-9][0-9]{6,14}$")
                | Q(to_number="", anonymised_at__isnull=False),
                name="message_to_e164",
            ),
            models.CheckConstraint(
                condition=Q(spoken_digits__regex=r"^[0-9]*$"), name="message_spoken_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to_number} ({self.get_status_display()})"


class Attempt(models.Model):
    """One try of a message on one channel through one backend, and how it ended."""

    class Outcome(models.TextChoices):
        # SMS: the gateway took it; the delivery report comes later.
        ACCEPTED = "accepted", _("Acceptée par la passerelle")
        DELIVERED = "delivered", _("Remise")
        # Voice calls.
        ANSWERED = "answered", _("Décroché")
        BUSY = "busy", _("Occupé")
        NO_ANSWER = "no_answer", _("Pas de réponse")
        # The gateway or the network refused or failed.
        FAILED = "failed", _("Échec")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    channel = models.CharField(_("canal"), max_length=5, choices=Message.Channel.choices)
    backend = models.CharField(_("passerelle"), max_length=40)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(_("résultat"), max_length=10, choices=Outcome.choices, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    detail = models.TextField(_("détail"), blank=True)

    class Meta:
        verbose_name = _("tentative")
        verbose_name_plural = _("tentatives")
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.channel} {self.outcome or '…'}"
