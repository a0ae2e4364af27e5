import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Fuseau horaire inconnu : %(tz)s"), params={"tz": value})


class Establishment(models.Model):
    name = models.CharField(_("nom"), max_length=200, unique=True)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    address = models.TextField(_("adresse"))
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, default="Europe/Paris", validators=[validate_time_zone]
    )

    # What relatives see when something goes wrong: always shown to them.
    contact_phone = models.CharField(_("téléphone de contact"), max_length=40)
    contact_hours = models.CharField(_("horaires de contact"), max_length=200)
    contact_address = models.TextField(_("adresse de contact"), blank=True)
    contact_email = models.EmailField(_("courriel de contact"), blank=True)

    # Call policy.
    call_minutes = models.PositiveSmallIntegerField(_("durée d'un appel (minutes)"), default=30)
    code_validity_minutes = models.PositiveSmallIntegerField(
        _("validité du code (minutes)"), default=5
    )
    recording_retention_days = models.PositiveSmallIntegerField(
        _("conservation des enregistrements (jours)"), default=90
    )
    # How long personal data is kept, per category (docs/privacy.md); the bounds are the
    # register's legal ones, enforced by the constraints below.
    call_data_retention_days = models.PositiveSmallIntegerField(
        _("conservation des données d'appel (jours)"), default=365
    )
    message_retention_days = models.PositiveSmallIntegerField(
        _("conservation des messages (jours)"), default=90
    )
    contact_retention_days = models.PositiveSmallIntegerField(
        _("conservation des contacts non autorisés (jours)"), default=365
    )
    detainee_retention_days = models.PositiveSmallIntegerField(
        _("conservation après libération ou transfert (jours)"), default=365
    )
    price_per_minute_cents = models.PositiveIntegerField(
        _("tarif par minute (centimes)"), default=0, help_text=_("0 : appels gratuits")
    )
    # A call of several relatives costs what a call of one costs, unless the
    # establishment decides that each relative who took part counts.
    charge_per_relative = models.BooleanField(
        _("tarif par proche"),
        default=False,
        help_text=_("Décoché : un appel à plusieurs proches coûte comme un appel à un proche."),
    )
    # Seconds a platform fault took from a call are added back to its end, up to the
    # room's next booking; this caps them further (empty: whatever fits).
    giveback_max_minutes = models.PositiveSmallIntegerField(
        _("temps rendu après une panne (minutes, au plus)"),
        null=True,
        blank=True,
        help_text=_("Vide : tout ce qui tient avant la réservation suivante du local."),
    )
    # How many of a detainee's contacts one booking may name, hence one call reaches (at
    # most settings.CALL_RELATIVES_SUPPORTED, 4; bookings.contacts.limit).
    max_relatives_per_call = models.PositiveSmallIntegerField(
        _("proches par appel (au plus)"), default=3
    )

    class Meta:
        verbose_name = _("établissement")
        verbose_name_plural = _("établissements")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(call_minutes__gte=20, call_minutes__lte=30),
                name="establishment_call_minutes_20_30",
                violation_error_message=_("La durée d'un appel doit être entre 20 et 30 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(code_validity_minutes__gte=1, code_validity_minutes__lte=15),
                name="establishment_code_validity_1_15",
                violation_error_message=_("La validité du code doit être entre 1 et 15 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(recording_retention_days__gte=1, recording_retention_days__lte=90),
                name="establishment_retention_1_90",
                violation_error_message=_(
                    "La conservation des enregistrements doit être entre 1 et 90 jours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(call_data_retention_days__gte=90, call_data_retention_days__lte=730),
                name="establishment_call_data_retention_90_730",
                violation_error_message=_(
                    "La conservation des données d'appel doit être entre 90 et 730 jours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(message_retention_days__gte=30, message_retention_days__lte=365),
                name="establishment_message_retention_30_365",
                violation_error_message=_(
                    "La conservation des messages doit être entre 30 et 365 jours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(contact_retention_days__gte=30, contact_retention_days__lte=730),
                name="establishment_contact_retention_30_730",
                violation_error_message=_(
                    "La conservation des contacts non autorisés doit être entre 30 et 730 jours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(detainee_retention_days__gte=90, detainee_retention_days__lte=730),
                name="establishment_detainee_retention_90_730",
                violation_error_message=_(
                    "La conservation après libération ou transfert doit être entre 90 et 730 jours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(max_relatives_per_call__gte=1, max_relatives_per_call__lte=4),
                name="establishment_relatives_per_call_1_4",
                violation_error_message=_("Un appel réunit de 1 à 4 proches."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.conf import settings

        supported = settings.CALL_RELATIVES_SUPPORTED
        if self.max_relatives_per_call and self.max_relatives_per_call > supported:
            raise ValidationError(
                {
                    "max_relatives_per_call": _(
                        "Les appels ne réunissent encore qu'au plus %(max)d proche(s)."
                    )
                    % {"max": supported}
                }
            )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def calls_are_free(self) -> bool:
        return self.price_per_minute_cents == 0


class Quarter(models.Model):
    """A part of an establishment with its own regime (maison d'arrêt, centre de détention...)."""

    ESTABLISHMENT_PATH = "establishment"

    class Kind(models.TextChoices):
        MAISON_ARRET = "ma", _("Maison d'arrêt")
        CENTRE_DETENTION = "cd", _("Centre de détention")
        SEMI_LIBERTE = "sl", _("Quartier de semi-liberté")
        MAISON_CENTRALE = "mc", _("Maison centrale")
        MINEURS = "mineurs", _("Quartier mineurs")
        OTHER = "autre", _("Autre")

    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="quarters"
    )
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("régime"), max_length=10, choices=Kind.choices)
    address = models.TextField(_("adresse"), blank=True)
    phone = models.CharField(_("standard"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("quartier")
        verbose_name_plural = _("quartiers")
        ordering = ["establishment", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["establishment", "code"], name="quarter_code_unique_per_establishment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.establishment.name} – {self.code}"


class VideoRoom(models.Model):
    """The dedicated room where a detainee makes video calls, with its kiosk device."""

    ESTABLISHMENT_PATH = "quarter__establishment"

    quarter = models.ForeignKey(Quarter, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(_("nom"), max_length=200)
    in_service = models.BooleanField(_("en service"), default=True)
    out_of_service_reason = models.CharField(
        _("motif de mise hors service"), max_length=300, blank=True
    )
    # Lawyer rooms are never recorded or monitored; kept here so the media plane can refuse to.
    for_lawyers = models.BooleanField(_("réservé aux avocats"), default=False)

    class Meta:
        verbose_name = _("local de visiophonie")
        verbose_name_plural = _("locaux de visiophonie")
        ordering = ["quarter", "name"]
        constraints = [
            models.UniqueConstraint(fields=["quarter", "name"], name="room_name_unique_per_quarter")
        ]

    def __str__(self) -> str:
        return f"{self.quarter} – {self.name}"

    @property
    def establishment(self) -> Establishment:
        return self.quarter.establishment


class KioskDevice(models.Model):
    """The terminal installed in a video room. Its credential is stored hashed and revocable."""

    ESTABLISHMENT_PATH = "room__quarter__establishment"

    room = models.ForeignKey(VideoRoom, on_delete=models.PROTECT, related_name="devices")
    label = models.CharField(_("libellé"), max_length=100)
    credential_hash = models.CharField(max_length=128, editable=False)
    credential_prefix = models.CharField(max_length=12, editable=False, db_index=True)
    authorized_at = models.DateTimeField(_("autorisé le"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("vu pour la dernière fois"), null=True, blank=True)

    class Meta:
        verbose_name = _("borne")
        verbose_name_plural = _("bornes")

    def __str__(self) -> str:
        return f"{self.room} – {self.label}"

    @property
    def is_active(self) -> bool:
        return self.authorized_at is not None and self.revoked_at is None
