"""The one access layer: what a staff member may see and do, and where.

Every staff query (admin, console views, WebSocket consumers) is scoped with
these helpers. Rights come from roles held per establishment; a national
administrator's role covers every establishment.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet

from establishments.models import Establishment
from people.models import Role

R = Role.Name


class Can:
    """Capabilities. Roles grant capabilities; views ask for capabilities, never roles."""

    VIEW = "view"
    MANAGE_ESTABLISHMENT = "manage_establishment"
    MANAGE_STAFF = "manage_staff"
    MANAGE_DETAINEES = "manage_detainees"
    DECIDE_CONTACTS = "decide_contacts"
    SUSPEND = "suspend"
    BOOK = "book"
    CONTROL_CALL = "control_call"
    WATCH = "watch"
    REPLAY = "replay"
    READ_AUDIT = "read_audit"
    READ_MESSAGES = "read_messages"
    MANAGE_MEDIA = "manage_media"
    READ_STATISTICS = "read_statistics"
    # The right of access: a package of everything held about one person (privacy.package).
    EXPORT_PERSONAL_DATA = "export_personal_data"


ALL_ROLES = frozenset(R.values)
CAPABILITIES: dict[str, frozenset[str]] = {
    Can.VIEW: ALL_ROLES,
    Can.MANAGE_ESTABLISHMENT: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR}),
    Can.MANAGE_STAFF: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR}),
    Can.MANAGE_DETAINEES: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR}),
    Can.DECIDE_CONTACTS: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR}),
    Can.SUSPEND: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR}),
    Can.BOOK: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR, R.BOOKING_OFFICER}),
    Can.CONTROL_CALL: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR, R.GUARD}),
    Can.WATCH: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR, R.GUARD}),
    Can.REPLAY: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR}),
    Can.READ_AUDIT: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.AUDITOR}),
    Can.READ_MESSAGES: frozenset(
        {R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR, R.BOOKING_OFFICER, R.GUARD}
    ),
    Can.MANAGE_MEDIA: frozenset({R.NATIONAL_ADMIN}),
    # Figures of use, no person in them: for those who run an establishment, and audit it.
    Can.READ_STATISTICS: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR, R.SUPERVISOR, R.AUDITOR}),
    # The director answers for the establishment's data, as the controller's representative.
    Can.EXPORT_PERSONAL_DATA: frozenset({R.NATIONAL_ADMIN, R.DIRECTOR}),
}


class Forbidden(PermissionDenied):
    """Refused for want of one of ``capabilities`` (where the user asked): the console's
    page says which roles hold them."""

    def __init__(self, *capabilities: str) -> None:
        super().__init__(", ".join(capabilities))
        self.capabilities = capabilities


def roles_with(*capabilities: str) -> list[str]:
    """The roles granting any of ``capabilities``, in the order of Role.Name."""
    return [role for role in R.values if any(role in CAPABILITIES[c] for c in capabilities)]


def _roles(user) -> list[tuple[int | None, str]]:
    """(establishment_id, role) pairs, cached on the user object for one request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, "_parloir_roles", None)
    if cached is None:
        cached = list(Role.objects.filter(user=user).values_list("establishment_id", "name"))
        user._parloir_roles = cached
    return cached


def forget_roles(user) -> None:
    user.__dict__.pop("_parloir_roles", None)


def is_national(user, capability: str = Can.VIEW) -> bool:
    allowed = CAPABILITIES[capability]
    return any(est is None and role in allowed for est, role in _roles(user))


def establishment_ids(user, capability: str = Can.VIEW) -> set[int] | None:
    """Ids of the establishments where the user has the capability; None means all of them."""
    if is_national(user, capability):
        return None
    allowed = CAPABILITIES[capability]
    return {est for est, role in _roles(user) if est is not None and role in allowed}


def has_any(user, capability: str = Can.VIEW) -> bool:
    ids = establishment_ids(user, capability)
    return ids is None or bool(ids)


def can(user, capability: str, establishment: Establishment | int) -> bool:
    est_id = establishment if isinstance(establishment, int) else establishment.pk
    ids = establishment_ids(user, capability)
    return ids is None or est_id in ids


def require(user, capability: str, establishment: Establishment | int) -> None:
    if not can(user, capability, establishment):
        raise Forbidden(capability)


def scope(qs: QuerySet, user, capability: str = Can.VIEW, path: str | None = None) -> QuerySet:
    """Restrict ``qs`` to rows of establishments where the user has ``capability``.

    ``path`` is the lookup from the model to its establishment id (for example
    ``"detainee__establishment"``); models declare it as ``ESTABLISHMENT_PATH``.
    """
    if path is None:
        path = establishment_path(qs.model)
    ids = establishment_ids(user, capability)
    if ids is None:
        return qs
    lookup = "pk__in" if path == "" else f"{path}__in"
    return qs.filter(**{lookup: ids})


def establishments(user, capability: str = Can.VIEW) -> QuerySet:
    return scope(Establishment.objects.all(), user, capability, path="")


def establishment_path(model: type[Model]) -> str:
    if model is Establishment:
        return ""
    path = getattr(model, "ESTABLISHMENT_PATH", None)
    if path is None:
        raise LookupError(f"{model.__name__} has no ESTABLISHMENT_PATH: it cannot be scoped")
    return path


def establishment_of(obj: Model) -> int | None:
    """The establishment id a row belongs to, following its ESTABLISHMENT_PATH."""
    if isinstance(obj, Establishment):
        return obj.pk
    target = obj
    for part in establishment_path(type(obj)).split("__"):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target.pk


# Every role sees personal data (names, phone numbers, calls, the audit log), so holding
# any role anywhere needs a second factor; an account without a role may enrol one.
SECOND_FACTOR_CAPABILITIES = (Can.VIEW,)
OTP_SESSION_KEY = "otp_device_id"  # django_otp.DEVICE_ID_SESSION_KEY


def needs_second_factor(user) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return any(has_any(user, capability) for capability in SECOND_FACTOR_CAPABILITIES)


def has_second_factor(user) -> bool:
    """An enrolled authenticator: then it is asked for, whatever the roles."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_ok(user, session) -> bool:
    """True when the user needs no second factor, or proved one in this session.

    Reads the session rather than ``request.user.is_verified()`` so that WebSocket
    consumers, which django_otp's middleware does not reach, apply the same rule.
    """
    if not needs_second_factor(user) and not has_second_factor(user):
        return True
    device_id = session.get(OTP_SESSION_KEY) if session is not None else None
    if not device_id:
        return False
    from django_otp import devices_for_user

    return any(device.persistent_id == device_id for device in devices_for_user(user))
