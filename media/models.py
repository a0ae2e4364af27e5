from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def validate_ws_url(value: str) -> None:
    if not value.startswith(("ws://", "wss://")):
        raise ValidationError(_("L'adresse doit commencer par ws:// ou wss://"))


class MediaNode(models.Model):
    """A Janus server. Its state is kept by ``manage.py media_health``.

    ``state`` changes only through conditional UPDATEs (see media/health.py and
    media/placement.py), so that the health checker and an operator draining the
    node never overwrite each other.
    """

    class State(models.TextChoices):
        UP = "up", _("en service")
        DOWN = "down", _("hors service")
        DRAINING = "draining", _("en vidange")

    name = models.SlugField(_("nom"), max_length=50, unique=True)
    ws_url = models.CharField(
        _("adresse de l'API Janus"), max_length=200, validators=[validate_ws_url]
    )
    admin_ws_url = models.CharField(
        _("adresse de l'API d'administration"), max_length=200, validators=[validate_ws_url]
    )
    # New nodes start down: only the health checker, having heard from Janus, puts them up.
    state = models.CharField(
        _("état"), max_length=10, choices=State.choices, default=State.DOWN, editable=False
    )
    # Operator intent, kept across failures: a drained node that fails and comes
    # back returns to draining, not to up.
    drain_requested = models.BooleanField(_("vidange demandée"), default=False)
    last_seen_at = models.DateTimeField(_("vu pour la dernière fois"), null=True, blank=True)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    load = models.PositiveIntegerField(_("salles actives"), default=0)
    # Packets lost on the node's media links over the last measure (RTCP, from Janus's
    # admin API: what publishers' packets never reached Janus, and what subscribers
    # report lost), in percent; None without media flowing.
    packet_loss_percent = models.FloatField(null=True, blank=True, editable=False)
    packet_loss_at = models.DateTimeField(null=True, blank=True, editable=False)
    capacity = models.PositiveIntegerField(_("capacité (salles)"), default=20)
    recording_dir = models.CharField(
        _("dossier des enregistrements"),
        max_length=500,
        help_text=_("Sur la machine du nœud ; un sous-dossier par salle."),
    )
    # A node on a machine of its own: its agent seals each room's files into the
    # storage the web hosts share (PARLOIR_RECORDING_SOURCE_STORE) and deletes them.
    ships_recordings = models.BooleanField(
        _("enregistrements expédiés par l'agent du nœud"),
        default=False,
        help_text=_(
            "Cochez pour un nœud sur une autre machine : ses fichiers arrivent chiffrés "
            "dans le stockage partagé."
        ),
    )

    class Meta:
        verbose_name = _("nœud média")
        verbose_name_plural = _("nœuds média")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["up", "down", "draining"]),
                name="media_node_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1), name="media_node_capacity_positive"
            ),
            models.CheckConstraint(
                condition=~Q(drain_requested=True, state="up"),
                name="media_node_drained_not_up",
                violation_error_message=_("Un nœud en vidange ne peut pas être en service."),
            ),
            models.CheckConstraint(
                condition=(Q(ws_url__startswith="ws://") | Q(ws_url__startswith="wss://"))
                & (Q(admin_ws_url__startswith="ws://") | Q(admin_ws_url__startswith="wss://")),
                name="media_node_ws_urls",
            ),
            models.CheckConstraint(
                condition=~Q(recording_dir=""), name="media_node_recording_dir_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"
