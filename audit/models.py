from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One row of the keyed hash chain of the audit log. Written only by audit.log.record()."""

    ESTABLISHMENT_PATH = "establishment"

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # Kept as text too, so the row still reads right if the account is renamed.
    actor_label = models.CharField(max_length=200, editable=False)
    establishment = models.ForeignKey(
        "establishments.Establishment", on_delete=models.PROTECT, null=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True, editable=False)
    target_type = models.CharField(max_length=64, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    data = models.JSONField(default=dict, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    # An HMAC under the audit key named by key_id (audit/log.py); the key is not here.
    hash = models.CharField(max_length=64, editable=False)
    key_id = models.CharField(max_length=16, blank=True, editable=False)

    class Meta:
        verbose_name = _("événement d'audit")
        verbose_name_plural = _("journal d'audit")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} ({self.actor_label})"

    def save(self, *args, **kwargs):
        if not kwargs.pop("_from_record", False) or self.pk is not None:
            raise ValueError("The audit log is append-only; write through audit.log.record()")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The audit log is append-only")


class AuditHead(models.Model):
    """The chain's last sequence number and hash, in one locked row.

    Locking it serializes writers on every database, and comparing it with the
    last event detects a deleted tail, which the chain alone cannot.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)


class AuditBase(models.Model):
    """Where the chain begins once its oldest rows are past their retention and pruned.

    One row: the first kept row's sequence number and the seal it follows, itself sealed
    with the audit key (audit/log.py ``prune_before``), so that only the service can move
    the chain's start, and only forward: a base set back expects rows that are gone, and
    rows deleted after the base are missing rows.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    seal = models.CharField(max_length=64)
