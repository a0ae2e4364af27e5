"""Recordings of calls: one encrypted file per recorded call, its holds, and what was destroyed.

State machine (written only by recordings.jobs and recordings.retention)::

    pending -> processing -> ready ----------> destroyed
                   |  ^                           ^
                   v  | (lease expired)           |
                 failed (flagged) ----------------+
    pending/processing -> empty   (nothing was recorded: the call never went live)
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CALL_ESTABLISHMENT = "call__booking__room__quarter__establishment"


class Recording(models.Model):
    ESTABLISHMENT_PATH = CALL_ESTABLISHMENT

    class State(models.TextChoices):
        PENDING = "pending", _("En attente de traitement")
        PROCESSING = "processing", _("En cours de traitement")
        READY = "ready", _("Disponible")
        FAILED = "failed", _("Échec du traitement")
        EMPTY = "empty", _("Aucun média enregistré")
        DESTROYED = "destroyed", _("Détruit")

    class Problem(models.TextChoices):
        NONE = "", _("Aucun")
        MISSING_FILES = "missing_files", _("Fichiers manquants")
        CORRUPT_FILES = "corrupt_files", _("Fichiers illisibles ou corrompus")
        MISSING_SIDE = "missing_side", _("Une des deux personnes n'a pas été enregistrée")
        PROCESSING_ERROR = "processing_error", _("Erreur de traitement")
        TAMPERED = "tampered", _("Fichier chiffré altéré")

    call = models.OneToOneField("calls.Call", on_delete=models.PROTECT, related_name="recording")
    # Names the encrypted file and is bound into its encryption: never reused.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(_("état"), max_length=12, choices=State.choices, default="pending")
    created_at = models.DateTimeField(default=timezone.now)

    # The job. claimed_until is the lease of the worker holding it (state processing), or
    # the earliest next attempt after a failed one (state pending).
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=120, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    # The result.
    media_started_at = models.DateTimeField(_("début de l'enregistrement"), null=True, blank=True)
    duration_seconds = models.FloatField(_("durée (secondes)"), null=True, blank=True)
    plaintext_size = models.BigIntegerField(null=True, blank=True)
    plaintext_sha256 = models.CharField(max_length=64, blank=True)
    stored_size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(_("empreinte SHA-256 du fichier chiffré"), max_length=64, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    wrapped_key = models.BinaryField(null=True, blank=True, editable=False)
    key_id = models.CharField(max_length=32, blank=True)
    # What was found and done: sides, source files, offsets, notes (see recordings.process).
    details = models.JSONField(default=dict, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    sources_deleted_at = models.DateTimeField(null=True, blank=True)

    # Shown to staff until someone looks: missing or corrupt source files.
    flagged = models.BooleanField(_("à vérifier"), default=False, db_index=True)
    problem = models.CharField(
        _("anomalie"), max_length=20, choices=Problem.choices, blank=True, default=""
    )
    problem_detail = models.TextField(blank=True)

    # Retention: call end + retention_days + the time holds stopped the clock.
    retention_days = models.PositiveSmallIntegerField()
    retention_until = models.DateTimeField(_("à détruire le"), db_index=True)
    clock_stopped_at = models.DateTimeField(_("délai suspendu depuis"), null=True, blank=True)
    held_seconds = models.PositiveBigIntegerField(default=0)
    destroyed_at = models.DateTimeField(_("détruit le"), null=True, blank=True)

    class Meta:
        verbose_name = _("enregistrement")
        verbose_name_plural = _("enregistrements")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=["pending", "processing", "ready", "failed", "empty", "destroyed"]
                ),
                name="recording_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="ready")
                | (Q(wrapped_key__isnull=False) & ~Q(sha256="") & ~Q(file_name="")),
                name="recording_ready_has_key_and_file",
            ),
            models.CheckConstraint(
                condition=~Q(state="destroyed")
                | (Q(wrapped_key__isnull=True) & Q(destroyed_at__isnull=False)),
                name="recording_destroyed_has_no_key",
            ),
            models.CheckConstraint(
                condition=~Q(state="failed") | Q(flagged=True),
                name="recording_failed_is_flagged",
            ),
        ]

    def __str__(self) -> str:
        return f"Enregistrement de l'appel #{self.call_id}"

    @property
    def held(self) -> bool:
        return self.clock_stopped_at is not None

    @property
    def playable(self) -> bool:
        return self.state == self.State.READY

    @property
    def file_id(self) -> bytes:
        return self.uuid.bytes


class Hold(models.Model):
    """Stops the retention clock of one recording until lifted: sent to a judicial authority,
    or a disciplinary appeal pending."""

    ESTABLISHMENT_PATH = "recording__" + CALL_ESTABLISHMENT

    class Kind(models.TextChoices):
        JUDICIAL = "judicial", _("Transmis à l'autorité judiciaire")
        DISCIPLINARY_APPEAL = "disciplinary_appeal", _("Recours disciplinaire en cours")

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="holds")
    kind = models.CharField(_("motif"), max_length=20, choices=Kind.choices)
    reference = models.CharField(_("référence"), max_length=200)
    note = models.TextField(_("observations"), blank=True)
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    lift_reason = models.CharField(_("motif de la levée"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("suspension de la destruction")
        verbose_name_plural = _("suspensions de la destruction")
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(reference=""), name="hold_has_reference"),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | Q(lifted_at__gte=models.F("placed_at")),
                name="hold_lifted_after_placed",
            ),
        ]

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class DestructionLog(models.Model):
    """One line per destroyed recording. Append-only: the model refuses changes and the
    database refuses updates (and deletes, on PostgreSQL; see the migration). Each line
    also names the audit event written in the same transaction."""

    ESTABLISHMENT_PATH = "establishment"

    class Reason(models.TextChoices):
        RETENTION = "retention", _("Durée de conservation écoulée")
        MANUAL = "manual", _("Purge manuelle")

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    recording = models.ForeignKey(
        Recording, on_delete=models.PROTECT, related_name="destructions", editable=False
    )
    recording_uuid = models.UUIDField(editable=False)
    call_id_copy = models.BigIntegerField(editable=False)
    establishment = models.ForeignKey(
        "establishments.Establishment", on_delete=models.PROTECT, related_name="+", editable=False
    )
    call_ended_at = models.DateTimeField(null=True, editable=False)
    state_before = models.CharField(max_length=12, editable=False)
    reason = models.CharField(max_length=12, choices=Reason.choices, editable=False)
    retention_until = models.DateTimeField(editable=False)
    held_seconds = models.PositiveBigIntegerField(default=0, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    stored_size = models.BigIntegerField(null=True, editable=False)
    files_removed = models.PositiveIntegerField(default=0, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, editable=False)
    audit_seq = models.PositiveBigIntegerField(null=True, editable=False)

    class Meta:
        verbose_name = _("destruction d'enregistrement")
        verbose_name_plural = _("journal des destructions")
        ordering = ["at", "id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The destruction log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The destruction log is append-only")


class ReplaySession(models.Model):
    """One audited replay: a staff member, a recording, a stated reason, a short validity.
    The stream URL carries its id; every byte range served checks it again."""

    ESTABLISHMENT_PATH = "recording__" + CALL_ESTABLISHMENT

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(
        Recording, on_delete=models.PROTECT, related_name="replays", editable=False
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    reason = models.CharField(_("motif"), max_length=500, editable=False)
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(editable=False)
    last_request_at = models.DateTimeField(null=True, blank=True)
    requests = models.PositiveIntegerField(default=0)
    audit_seq = models.PositiveBigIntegerField(null=True, editable=False)

    class Meta:
        verbose_name = _("consultation d'enregistrement")
        verbose_name_plural = _("consultations d'enregistrements")
        ordering = ["-started_at"]


class Export(models.Model):
    """A package made for a judicial authority: encrypted media, manifest, checksums."""

    ESTABLISHMENT_PATH = "recording__" + CALL_ESTABLISHMENT

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(
        Recording, on_delete=models.PROTECT, related_name="exports", editable=False
    )
    authority = models.CharField(_("autorité destinataire"), max_length=200)
    reference = models.CharField(_("référence de la réquisition"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    file_name = models.CharField(max_length=200, blank=True)
    # The package file is removed from the server after this; the row stays.
    available_until = models.DateTimeField()
    downloads = models.PositiveIntegerField(default=0)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("export judiciaire")
        verbose_name_plural = _("exports judiciaires")
        ordering = ["-created_at"]
