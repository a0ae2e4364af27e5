from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Call(models.Model):
    """One video call, made in a booked slot. Its state moves only through calls.actions."""

    ESTABLISHMENT_PATH = "booking__room__quarter__establishment"

    class State(models.TextChoices):
        BOOKED = "booked", _("Réservé")
        CALLING = "calling", _("Appel en cours d'envoi")
        CODE_SENT = "code_sent", _("Code envoyé")
        RELATIVE_JOINED = "relative_joined", _("Proche connecté")
        LIVE = "live", _("En cours")
        ENDED = "ended", _("Terminé")
        INTERRUPTED = "interrupted", _("Interrompu par l'administration")
        NO_ANSWER = "no_answer", _("Sans réponse")
        REFUSED = "refused", _("Refusé par le proche")
        MEDIA_FAILED = "media_failed", _("Panne technique")

    S = State
    TRANSITIONS: dict[str, set[str]] = {
        S.BOOKED: {S.CALLING, S.NO_ANSWER, S.REFUSED},
        S.CALLING: {S.CODE_SENT, S.ENDED, S.NO_ANSWER, S.INTERRUPTED, S.MEDIA_FAILED},
        # A new code may be sent while waiting: code_sent -> code_sent is logged too.
        # Back to booked when the relative refuses a consent: the slot is not burnt, the
        # detainee may call again with a new code.
        S.CODE_SENT: {
            S.BOOKED,
            S.CODE_SENT,
            S.RELATIVE_JOINED,
            S.ENDED,
            S.NO_ANSWER,
            S.REFUSED,
            S.INTERRUPTED,
            S.MEDIA_FAILED,
        },
        S.RELATIVE_JOINED: {S.LIVE, S.ENDED, S.NO_ANSWER, S.INTERRUPTED, S.MEDIA_FAILED},
        S.LIVE: {S.ENDED, S.INTERRUPTED, S.MEDIA_FAILED},
        S.ENDED: set(),
        S.INTERRUPTED: set(),
        S.NO_ANSWER: set(),
        S.REFUSED: set(),
        S.MEDIA_FAILED: set(),
    }
    OPEN_STATES = [S.BOOKED, S.CALLING, S.CODE_SENT, S.RELATIVE_JOINED, S.LIVE]
    FINAL_STATES = [S.ENDED, S.INTERRUPTED, S.NO_ANSWER, S.REFUSED, S.MEDIA_FAILED]

    class InterruptCategory(models.TextChoices):
        SECURITY = "security", _("Sécurité")
        BEHAVIOUR = "behaviour", _("Comportement")
        RULES = "rules", _("Non-respect du règlement")
        TECHNICAL = "technical", _("Problème technique")
        OTHER = "other", _("Autre motif")

    class EndReason(models.TextChoices):
        TIME_UP = "time_up", _("Durée écoulée")
        HUNG_UP_DETAINEE = "hung_up_detainee", _("Raccroché par la personne détenue")
        HUNG_UP_RELATIVE = "hung_up_relative", _("Raccroché par le proche")
        STAFF = "staff", _("Interrompu par l'administration")
        SUSPENDED = "suspended", _("Accès suspendu")
        NO_ANSWER = "no_answer", _("Le proche ne s'est pas connecté")
        CANCELLED = "cancelled", _("Annulé depuis la borne")
        REFUSED_MONITORING = "refused_monitoring", _("Surveillance refusée par le proche")
        MEDIA_FAILURE = "media_failure", _("Panne du serveur vidéo")

    booking = models.OneToOneField(
        "bookings.Booking", on_delete=models.PROTECT, related_name="call"
    )
    # Copied from the booking so the deadline never depends on a later edit of it. Empty
    # once the privacy purge has unlinked the call from its people: it then counts in the
    # figures only (privacy.purge).
    contact = models.ForeignKey(
        "people.AuthorizedContact",
        on_delete=models.PROTECT,
        related_name="calls",
        null=True,
    )
    detainee = models.ForeignKey(
        "people.Detainee", on_delete=models.PROTECT, related_name="calls", null=True
    )
    # In the SMS link: ties typed codes to this call, so wrong attempts count against it.
    link_token = models.CharField(max_length=32, unique=True)
    state = models.CharField(_("état"), max_length=16, choices=State.choices, default=S.BOOKED)
    end_reason = models.CharField(
        _("motif de fin"), max_length=20, choices=EndReason.choices, blank=True
    )
    end_detail = models.CharField(_("précision"), max_length=300, blank=True)
    recorded = models.BooleanField(_("enregistré"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(_("début de la conversation"), null=True, blank=True)
    ended_at = models.DateTimeField(_("fin"), null=True, blank=True)
    # Persisted so that the end is enforced across restarts: the deadline worker reads it.
    deadline = models.DateTimeField(_("fin au plus tard"), null=True, blank=True, db_index=True)
    # Platform faults (MediaOutage): the seconds added back to the deadline, and those that
    # could not be (the room's next booking came first), offered as a make-up call. Both
    # are shown to staff; neither is ever charged.
    given_back_seconds = models.PositiveIntegerField(default=0)
    lost_seconds = models.PositiveIntegerField(default=0)
    charged_cents = models.PositiveIntegerField(default=0)

    # Media: which Janus node and room carry this call.
    media_node = models.ForeignKey(
        "media.MediaNode", on_delete=models.PROTECT, null=True, blank=True, related_name="calls"
    )
    janus_room = models.BigIntegerField(null=True, blank=True)
    janus_room_pin = models.CharField(max_length=64, blank=True)
    janus_room_secret = models.CharField(max_length=64, blank=True)
    # Set by the worker once the room is destroyed after the call's end.
    media_released_at = models.DateTimeField(null=True, blank=True)
    # Bumped each time the call loses its room (its node failed, its Janus restarted) and
    # its pages must set their media up again in a new one: a page ignores a restart
    # order older than the room it joined.
    media_epoch = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("appel")
        verbose_name_plural = _("appels")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "booked",
                        "calling",
                        "code_sent",
                        "relative_joined",
                        "live",
                        "ended",
                        "interrupted",
                        "no_answer",
                        "refused",
                        "media_failed",
                    ]
                ),
                name="call_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(state__in=["ended", "interrupted", "no_answer", "refused", "media_failed"]),
                name="call_ended_at_only_when_final",
            ),
            models.UniqueConstraint(
                fields=["media_node", "janus_room"],
                condition=Q(janus_room__isnull=False),
                name="call_janus_room_unique_per_node",
            ),
        ]

    def __str__(self) -> str:
        return f"Appel #{self.pk} – {self.detainee} → {self.contact}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def establishment(self):
        return self.booking.room.quarter.establishment

    def seconds_left(self, at=None) -> int | None:
        if self.deadline is None:
            return None
        if not self.is_open:
            return 0
        at = at or timezone.now()
        return max(0, int((self.deadline - at).total_seconds()))


class CallRelative(models.Model):
    """One relative's leg of a call: the contact it reaches (issue #19).

    A call has one leg per contact its booking names, created when the detainee presses
    "Appeler"; position 0 is ``Call.contact``. The leg is what a relative's code, link,
    consents and page belong to (``CallCode.relative``, ``Consent.relative``,
    ``Participant.relative``): each relative enters, consents, refuses, leaves or is
    removed by staff for themselves, and the call goes on for the others. Calls made
    before legs existed got theirs from their contact (migration 0009).
    """

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="relatives")
    contact = models.ForeignKey(
        "people.AuthorizedContact", on_delete=models.PROTECT, related_name="call_legs"
    )
    position = models.PositiveSmallIntegerField(default=0)
    # In this relative's SMS link (/j/<token>): ties the codes typed on that page to this
    # leg, so that wrong attempts count against it and a new code goes to this phone.
    # Leg 0's is the call's own link token.
    link_token = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # Refused a text before entering: out of this call, until the detainee calls again.
    refused_at = models.DateTimeField(null=True, blank=True)
    # Hung up: the call goes on for the others, without this relative.
    left_at = models.DateTimeField(null=True, blank=True)
    # Taken out of the call by staff, with their reason (audited).
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("proche de l'appel")
        verbose_name_plural = _("proches de l'appel")
        ordering = ["call", "position"]
        constraints = [
            models.UniqueConstraint(fields=["call", "contact"], name="call_relative_once"),
            models.UniqueConstraint(fields=["call", "position"], name="call_relative_position"),
            models.CheckConstraint(condition=Q(position__lte=3), name="call_relative_position_0_3"),
        ]

    def __str__(self) -> str:
        return f"{self.call_id}#{self.position} → {self.contact_id}"

    @property
    def out(self) -> bool:
        """Refused, hung up or removed: no longer expected in this call."""
        return bool(self.refused_at or self.left_at or self.removed_at)


class CallWarning(models.Model):
    """A message from staff shown on both screens: a warning comes before any cut."""

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    class Preset(models.TextChoices):
        """Warnings each side reads in its own language (free text goes as typed)."""

        FACE_CAMERA = "face_camera", _("Veuillez rester face à la caméra.")
        CALM = "calm", _("Veuillez garder un ton calme.")
        OBJECTS = "objects", _("Ne montrez ni objet ni écrit à la caméra.")
        OTHERS = "others", _("Seules les personnes autorisées peuvent participer à l'appel.")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="warnings")
    staff = models.ForeignKey("people.StaffUser", on_delete=models.PROTECT, related_name="+")
    text = models.CharField(_("message"), max_length=300)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="call_warning_text_given"),
        ]


class CallTransition(models.Model):
    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=Call.State.choices)
    to_state = models.CharField(max_length=16, choices=Call.State.choices)
    at = models.DateTimeField(default=timezone.now)
    by_staff = models.ForeignKey(
        "people.StaffUser", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who: "kiosk:" and a device label, a staff username (up to 150), or a process.
    by_label = models.CharField(max_length=200)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]


class CallCode(models.Model):
    """A one-time code sent to the relative for one call. Only its keyed hash is stored."""

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="codes")
    # The leg the code was sent for (its contact's phone).
    relative = models.ForeignKey(
        CallRelative, on_delete=models.CASCADE, null=True, blank=True, related_name="codes"
    )
    code_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # The browser that used the code (a hash of its seat cookie): only it comes back
    # without a new code, and the latest used code's seat holds the relative's place.
    seat_hash = models.CharField(max_length=64, blank=True)
    # Sent at the relative's request (a new device, a lost message): counted, so that
    # nobody can make the establishment call or text a family again and again.
    requested_by_relative = models.BooleanField(default=False)
    message = models.ForeignKey(
        "notify.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="call_code_expires_later"
            ),
        ]


class CodeAttempt(models.Model):
    """Code entries per client address, kept for rate limiting (purged after a day)."""

    # The address, or its /64 network for IPv6 (calls.codes.client_key).
    client = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    succeeded = models.BooleanField(default=False)
    # Typed without the SMS link: such a guess is tried against every live code, so these
    # failures are also limited across all addresses (calls.codes.TYPED_FAILURES_PER_HOUR).
    typed = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["typed", "at"], name="code_attempt_typed_at")]


class CodeGate(models.Model):
    """One row, locked by every typed code entry: it serializes the global count, so that
    no burst of concurrent guesses gets past the limit, and remembers when it tripped."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    tripped_at = models.DateTimeField(null=True, blank=True)


class Consent(models.Model):
    """An acceptance (or refusal) by the relative, with the text's version, time and client."""

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    class Kind(models.TextChoices):
        TERMS = "terms", _("Conditions d'utilisation")
        PRIVACY = "privacy", _("Charte de confidentialité")
        MONITORING = "monitoring", _("Surveillance et enregistrement")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="consents")
    # The leg whose relative gave it: each relative consents for themselves.
    relative = models.ForeignKey(
        CallRelative, on_delete=models.CASCADE, null=True, blank=True, related_name="consents"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text_version = models.CharField(max_length=20)
    accepted = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)
    client_ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=10)
    # The browser that gave it (calls.models.CallCode.seat_hash): another device that
    # joins the call reads and accepts the texts again.
    seat_hash = models.CharField(max_length=64, blank=True)


class Participant(models.Model):
    """One side of a call (kiosk or relative) or a staff monitor, with its Janus objects.

    The Janus ids are kept so that a restarted parloir process can re-claim the
    sessions: media keeps flowing between the browsers and Janus meanwhile.
    """

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    class Role(models.TextChoices):
        KIOSK = "kiosk", _("Borne")
        RELATIVE = "relative", _("Proche")
        MONITOR = "monitor", _("Surveillance")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=10, choices=Role.choices)
    # A relative's page: the leg it stands for (empty for the kiosk and monitors).
    relative = models.ForeignKey(
        CallRelative,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="participants",
    )
    staff = models.ForeignKey(
        "people.StaffUser", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Lets a browser re-attach after a dropped WebSocket without a new code.
    resume_token_hash = models.CharField(max_length=64, blank=True)
    janus_session = models.BigIntegerField(null=True, blank=True)
    janus_publisher_handle = models.BigIntegerField(null=True, blank=True)
    janus_subscriber_handle = models.BigIntegerField(null=True, blank=True)
    feed_id = models.BigIntegerField(null=True, blank=True)
    # Every feed this side published, in any room of the call: the recording tells the
    # sides apart by them after the media moved or the page published again.
    published_feeds = models.JSONField(default=list, blank=True)
    # The feeds the subscriber handle was given. A page that re-attaches takes the handle
    # back: what it subscribes to must come from here, not from the feeds live now, which
    # may have changed while the page was away.
    subscribed_feeds = models.JSONField(default=list, blank=True)
    media_up = models.BooleanField(default=False)
    # Janus reports "slowlink" when it sees heavy loss from this side: shown to staff.
    last_slowlink_at = models.DateTimeField(null=True, blank=True)
    # This side said its link is weak ("bandwidth" frame): told again to the other side
    # when that one reconnects, since its page forgot.
    low_bandwidth = models.BooleanField(default=False)
    # Counts the pages that attached as this participant (a reload, a duplicated tab):
    # with the participant's id it orders attachments, and the newest one keeps the side.
    attachments = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One page per side at a time: the kiosk's, and each relative's (a newer
            # page of the same side replaces the older one).
            models.UniqueConstraint(
                fields=["call", "role"],
                condition=Q(role="kiosk") & Q(left_at__isnull=True),
                name="participant_one_live_kiosk",
            ),
            models.UniqueConstraint(
                fields=["call", "relative"],
                condition=Q(role="relative") & Q(left_at__isnull=True),
                name="participant_one_live_page_per_relative",
            ),
        ]


class CallRoom(models.Model):
    """A Janus room that carried the call, or part of it.

    A call gets a new room when its media node fails or its Janus restarts; the call's
    recording is made of every room's files. ``Call.janus_room`` names the current one.
    """

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="rooms")
    node = models.ForeignKey("media.MediaNode", on_delete=models.PROTECT, related_name="+")
    room = models.BigIntegerField()
    pin = models.CharField(max_length=64)
    secret = models.CharField(max_length=64)
    # Recording is turned on when the conversation starts, never before: a call that
    # never had both sides live leaves no recording.
    recording = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # No longer the call's room: the call ended, or its media moved elsewhere.
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=40, blank=True)
    # Destroyed in Janus, or known gone with its Janus: its files are complete.
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "room"], name="call_room_unique_per_node"),
            models.UniqueConstraint(
                fields=["call"],
                condition=Q(closed_at__isnull=True),
                name="call_room_one_current",
            ),
        ]


class MediaOutage(models.Model):
    """A span of a live call without two-way media that was not the family's doing.

    Opened when parloir learns that the call's media are gone (its node failed, its
    Janus restarted), closed when both sides' media are back. Its seconds are added to
    the deadline as far as the room allows (``given_back_seconds``); the rest is
    ``lost_seconds``, offered as a make-up call. None of it is charged.
    """

    ESTABLISHMENT_PATH = "call__booking__room__quarter__establishment"

    class Cause(models.TextChoices):
        NODE_DOWN = "node_down", _("Serveur vidéo hors service")
        MEDIA_RESTART = "media_restart", _("Serveur vidéo redémarré")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="outages")
    cause = models.CharField(max_length=20, choices=Cause.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    given_back_seconds = models.PositiveIntegerField(default=0)
    lost_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["call"], condition=Q(ended_at__isnull=True), name="media_outage_one_open"
            ),
        ]

    @property
    def seconds(self) -> int:
        if self.ended_at is None:
            return 0
        return max(0, int((self.ended_at - self.started_at).total_seconds()))
