"""Staff sign-in for the console and the admin: password, then TOTP for every role.

Failed passwords are counted by django-axes per account and per address (settings:
AXES_*); a lockout is audited. The session key changes at each factor, and a staff
session ends after a working day or half an hour without a request (settings:
STAFF_SESSION_*). docs/console.md, docs/security.md.
"""

import time
from base64 import b32encode
from io import BytesIO
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.log import record
from parloir import access

PROTECTED_PREFIXES = ("/console/", "/admin/")


def _login_urls() -> tuple[str, ...]:
    return (reverse("console:login"), reverse("console:totp"), reverse("console:logout"))


class SecondFactorRequired:
    """Sends staff who hold sensitive rights to the TOTP step until they pass it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        user = request.user
        if (
            path.startswith(PROTECTED_PREFIXES)
            and path not in _login_urls()
            and user.is_authenticated
            and not access.second_factor_ok(user, request.session)
        ):
            return HttpResponseRedirect(f"{reverse('console:totp')}?next={quote(path)}")
        return self.get_response(request)


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or reverse("console:index")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return reverse("console:index")
    return target


SESSION_SIGNED_IN_AT = "staff_signed_in_at"
SESSION_LAST_SEEN = "staff_last_seen"


def client_address(request) -> str | None:
    """The address django-axes counts: parloir.proxy has already resolved the client's."""
    return request.META.get("REMOTE_ADDR") or None


def locked_out(request, *args, **kwargs):
    """django-axes's answer to a locked account or address: the sign-in page, saying so."""
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    error = _(
        "Trop de tentatives de connexion. Réessayez dans %(minutes)s minutes, ou "
        "demandez à votre administrateur de débloquer le compte."
    ) % {"minutes": minutes}
    return render(
        request, "console/login.html", {"error": error, "next": _next(request)}, status=429
    )


@receiver(user_locked_out, dispatch_uid="parloir.audit_staff_lockout")
def _audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    from people.models import StaffUser

    account = StaffUser.objects.filter(username=username or "").first()
    record(
        "staff.locked_out",
        actor=None,
        actor_label=(username or "")[:150] or "unknown",
        target=account,
        data={"username": (username or "")[:150], "address": ip_address or ""},
    )


@require_http_methods(["GET", "POST"])
def sign_in(request):
    error = None
    if request.method == "POST":
        user = authenticate(
            request,
            username=request.POST.get("username", ""),
            password=request.POST.get("password", ""),
        )
        if user is not None and user.is_staff:
            login(request, user)  # a new session key for the first factor
            request.session[SESSION_SIGNED_IN_AT] = time.time()
            request.session[SESSION_LAST_SEEN] = time.time()
            if access.needs_second_factor(user) or access.has_second_factor(user):
                return redirect(f"{reverse('console:totp')}?next={quote(_next(request))}")
            return redirect(_next(request))
        error = _("Identifiant ou mot de passe incorrect.")
    return render(
        request,
        "console/login.html",
        {"error": error, "next": _next(request)},
        status=400 if error else 200,
    )


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@require_http_methods(["GET", "POST"])
def totp(request):
    """Check a TOTP code; the first time, enrol an authenticator app with a QR code."""
    user = request.user
    if not user.is_authenticated:
        return redirect("console:login")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="parloir", confirmed=False)
    error = None
    if request.method == "POST":
        if device.verify_token(request.POST.get("token", "").strip()):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                record("staff.totp_enrolled", actor=user, target=user)
            otp_login(request, device)
            # A session key seen before the second factor must not carry it.
            request.session.cycle_key()
            return redirect(_next(request))
        error = _("Code incorrect. Vérifiez l'heure de votre téléphone et réessayez.")
    context = {"error": error, "next": _next(request), "enrolling": enrolling}
    if enrolling:
        context["qr_svg"] = _qr_svg(device.config_url)
        context["secret"] = b32encode(device.bin_key).decode()
    return render(request, "console/totp.html", context, status=400 if error else 200)


@require_POST
def sign_out(request):
    """POST only: a link or an image on any site must not sign staff out."""
    logout(request)
    return redirect("console:login")


class StaffSessionLimits:
    """Ends a staff session after a working day, or after a spell without any request.

    Both limits are read from the session, so they hold whatever the cookie says; the
    cookie's own expiry follows the idle limit, so an abandoned browser forgets it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = time.time()
            session = request.session
            signed_in_at = session.get(SESSION_SIGNED_IN_AT) or now
            last_seen = session.get(SESSION_LAST_SEEN) or now
            if (
                now - signed_in_at > settings.STAFF_SESSION_MAX_SECONDS
                or now - last_seen > settings.STAFF_SESSION_IDLE_SECONDS
            ):
                logout(request)
                if request.path.startswith(PROTECTED_PREFIXES):
                    return HttpResponseRedirect(
                        f"{reverse('console:login')}?next={quote(request.get_full_path())}"
                    )
            else:
                session.setdefault(SESSION_SIGNED_IN_AT, signed_in_at)
                # Written at most once a minute: every request need not save the session.
                if now - last_seen >= 60 or SESSION_LAST_SEEN not in session:
                    session[SESSION_LAST_SEEN] = now
                    session.set_expiry(settings.STAFF_SESSION_IDLE_SECONDS)
        return self.get_response(request)
