"""The purge log: what the privacy purge deleted or anonymised, per category and run.

Append-only, like the recordings' destruction log: the model refuses changes and the
database refuses updates (and deletes, on PostgreSQL; see the migration). It holds
counts and dates, never a name or a number: it must outlive what it speaks of.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PurgeLog(models.Model):
    ESTABLISHMENT_PATH = "establishment"

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    run = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    # Empty for what is kept for all establishments at once (the audit chain, sessions).
    establishment = models.ForeignKey(
        "establishments.Establishment",
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        editable=False,
    )
    category = models.CharField(max_length=32, editable=False)
    # "anonymised" (the row stays for the figures), "deleted", or "unlinked" (a call or
    # booking no longer says whose it was).
    action = models.CharField(max_length=16, editable=False)
    count = models.PositiveIntegerField(editable=False)
    # What was older than this went.
    cutoff = models.DateTimeField(editable=False)
    retention_days = models.PositiveIntegerField(editable=False)
    held = models.PositiveIntegerField(default=0, editable=False)
    actor_label = models.CharField(max_length=200, editable=False)
    audit_seq = models.PositiveBigIntegerField(null=True, editable=False)

    class Meta:
        verbose_name = _("purge de données personnelles")
        verbose_name_plural = _("journal des purges")
        ordering = ["at", "id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The purge log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The purge log is append-only")
