"""Staff sign-in for the console and the admin: password, then TOTP for sensitive roles."""

from base64 import b32encode
from io import BytesIO
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
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
            login(request, user)
            if access.needs_second_factor(user):
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
            return redirect(_next(request))
        error = _("Code incorrect. Vérifiez l'heure de votre téléphone et réessayez.")
    context = {"error": error, "next": _next(request), "enrolling": enrolling}
    if enrolling:
        context["qr_svg"] = _qr_svg(device.config_url)
        context["secret"] = b32encode(device.bin_key).decode()
    return render(request, "console/totp.html", context, status=400 if error else 200)


def sign_out(request):
    logout(request)
    return redirect("console:login")
