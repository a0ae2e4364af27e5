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
    provider_ref = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

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
                condition=Q(to_number__regex=r"^\+[1-9][0-9]{6,14}$"), name="message_to_e164"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to_number} ({self.get_status_display()})"
