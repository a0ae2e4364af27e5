"""The relative's side: code, consents, waiting, the call, the end. No account, no password."""

from functools import wraps

from django.conf import settings
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from calls import access as call_access
from calls import actions as call_actions
from calls import codes
from calls.events import end_reason_label
from calls.models import CallRelative, Consent
from establishments.models import Establishment


def client_ip(request) -> str:
    # Behind a trusted reverse proxy, parloir.proxy put the relative's own address here.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _seat(request) -> tuple[str, bool]:
    """This browser's seat cookie, or a new one (then True: the response must set it)."""
    seat = request.COOKIES.get(codes.SEAT_COOKIE, "")
    if 20 <= len(seat) <= 100:
        return seat, False
    return codes.new_seat(), True


def _set_seat(response, seat: str) -> None:
    response.set_cookie(
        codes.SEAT_COOKIE,
        seat,
        max_age=codes.SEAT_COOKIE_MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


@require_http_methods(["GET", "POST"])
def enter_code(request, link_token: str | None = None):
    error = None
    notice = None
    if request.method == "POST":
        seat, new_seat = _seat(request)
        seat_hash = codes.seat_hash(seat)
        try:
            leg = call_actions.do_redeem_code_for_leg(
                request.POST.get("code", ""),
                client=client_ip(request),
                link_token=link_token or request.POST.get("link") or None,
                seat=seat_hash,
            )
        except call_actions.CodeRejected:
            error = _code_error(link_token)
            if request.session.get(REFUSED_KEY) is not None:
                # This very browser refused the consents: its code died with the refusal.
                # Said to it alone (the session knows), so no one learns from it whether
                # some code exists.
                error = _(
                    "Vous avez refusé les conditions : ce code n'est plus valable. Si la "
                    "personne détenue vous appelle de nouveau, vous recevrez un nouveau code."
                )
        else:
            request.session.pop(REFUSED_KEY, None)
            request.session.cycle_key()
            for key in (call_access.PORTAL_SESSION_CALL, call_access.PORTAL_SESSION_PENDING):
                request.session.pop(key, None)
            request.session[call_access.PORTAL_SESSION_SEAT] = seat_hash
            request.session[call_access.PORTAL_SESSION_LEG] = leg.pk
            call = leg.call
            # A browser that has not accepted the texts for this call reads them first,
            # even when the relative already did so on another device.
            if call_actions.has_all_consents(call, seat=seat_hash, leg=leg):
                request.session[call_access.PORTAL_SESSION_CALL] = call.pk
                response = redirect("portal:call")
            else:
                request.session[call_access.PORTAL_SESSION_PENDING] = call.pk
                response = redirect("portal:terms")
            if new_seat:
                _set_seat(response, seat)
            return response
    elif link_token and request.GET.get("nouveau") == "1":
        notice = _(
            "Si l'appel est en cours, un nouveau code vient d'être envoyé à votre téléphone. "
            "Il faut ensuite accepter à nouveau les conditions sur cet appareil."
        )
    return render(
        request,
        "portal/code.html",
        {
            "error": error,
            "notice": notice,
            "link_token": link_token or "",
            "establishment": _link_establishment(link_token),
            "code_digits": codes.CODE_DIGITS,
        },
        status=400 if error else 200,
    )


def _code_error(link_token: str | None) -> str:
    """The one text for any refused code, with the validity the relative's code had.

    Through a link, that is its establishment's; a code typed on its own names no
    establishment (whatever was wrong, the text must not say whether the code exists),
    so the validity is said only when every establishment gives the same.
    """
    establishment = _link_establishment(link_token)
    if establishment is not None:
        validities = [establishment.code_validity_minutes]
    else:
        validities = list(
            Establishment.objects.order_by()
            .values_list("code_validity_minutes", flat=True)
            .distinct()[:2]
        )
    if len(validities) != 1:
        return _(
            "Ce code n'est pas valide. Vérifiez le dernier code reçu et sa durée de validité, "
            "indiquée dans le message. Si le problème continue, demandez à votre proche de vous "
            "envoyer un nouveau code."
        )
    minutes = validities[0]
    return ngettext(
        "Ce code n'est pas valide. Vérifiez le dernier code reçu : il est valable "
        "%(minutes)s minute. Si le problème continue, demandez à votre proche de vous "
        "envoyer un nouveau code.",
        "Ce code n'est pas valide. Vérifiez le dernier code reçu : il est valable "
        "%(minutes)s minutes. Si le problème continue, demandez à votre proche de vous "
        "envoyer un nouveau code.",
        minutes,
    ) % {"minutes": minutes}


@require_POST
def request_code(request, link_token: str):
    """A new code on the relative's phone, for a new device or a lost message.

    Only from the SMS link's page (the link names the relative's leg of the call), and
    only to that contact's own number; the answer is the same whether or not a code was
    sent.
    """
    leg = CallRelative.objects.select_related("call").filter(link_token=link_token).first()
    if leg is not None:
        try:
            call_actions.do_send_code_to_relative(leg.call, leg)
        except call_actions.CodeRequestRefused:
            pass
    return redirect(f"{reverse('portal:code_link', args=[link_token])}?nouveau=1")


def _link_establishment(link_token: str | None) -> Establishment | None:
    """The establishment behind an SMS link, so that its contact is one tap away.

    Only the link's holder sees it, and the link came to the relative from that
    establishment; a code typed without the link shows the list of establishments.
    """
    if not link_token:
        return None
    leg = (
        CallRelative.objects.select_related("call__booking__room__quarter__establishment")
        .filter(link_token=link_token)
        .first()
    )
    return leg.call.establishment if leg else None


def relative_view(view, pending: bool = False):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        leg = call_access.portal_leg(request.session, pending=pending)
        if leg is None:
            return redirect("portal:code")
        request.call = leg.call
        request.leg = leg
        return view(request, *args, **kwargs)

    return wrapped


def consenting_view(view):
    """A consent page: open to a browser let in by a code that is still reading them."""
    return relative_view(view, pending=True)


def _consent(request, kind: str, accepted: bool) -> None:
    call_actions.do_record_consent(
        request.call,
        kind,
        accepted=accepted,
        client_ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        language=get_language(),
        seat=request.session.get(call_access.PORTAL_SESSION_SEAT, ""),
        leg=request.leg,
    )


REFUSED_KEY = "portal_refused"


def _refused(request):
    """A refusal does not end the call (the detainee may call again, with a new code):
    this browser leaves it, and the end page says what happens next."""
    call_access.forget_portal_call(request.session)
    request.session[REFUSED_KEY] = request.call.establishment.pk
    return redirect("portal:ended")


@require_http_methods(["GET", "POST"])
@consenting_view
def terms(request):
    call = request.call
    if not call.is_open:
        return redirect("portal:ended")
    if request.method == "POST":
        accepted = request.POST.get("decision") == "accept"
        _consent(request, Consent.Kind.TERMS, accepted)
        if accepted:
            _consent(request, Consent.Kind.PRIVACY, accepted)
            return redirect("portal:monitoring")
        return _refused(request)
    return render(request, "portal/terms.html", {"call": call})


@require_http_methods(["GET", "POST"])
@consenting_view
def monitoring(request):
    call = request.call
    if not call.is_open:
        return redirect("portal:ended")
    if request.method == "POST":
        accepted = request.POST.get("decision") == "accept"
        _consent(request, Consent.Kind.MONITORING, accepted)
        if not accepted:
            return _refused(request)
        seat = request.session.get(call_access.PORTAL_SESSION_SEAT, "")
        if not call_actions.has_all_consents(call, seat=seat, leg=request.leg):
            return redirect("portal:terms")
        request.session.pop(call_access.PORTAL_SESSION_PENDING, None)
        request.session[call_access.PORTAL_SESSION_CALL] = call.pk
        call_actions.do_relative_waiting(call, request.leg)
        return redirect("portal:call")
    return render(request, "portal/monitoring.html", {"call": call})


@consenting_view  # sends a browser still owing consents to them, and a finished call to its end
def call(request):
    call = request.call
    if not call.is_open:
        return redirect("portal:ended")
    seat = request.session.get(call_access.PORTAL_SESSION_SEAT, "")
    if not call_actions.has_all_consents(call, seat=seat, leg=request.leg):
        return redirect("portal:terms")
    if request.leg.out:
        return redirect("portal:ended")
    return render(
        request,
        "portal/call.html",
        {"call": call, "establishment": call.establishment, "ws_path": "/ws/call/"},
    )


@require_POST
@relative_view
def hang_up(request):
    """ "Raccrocher" also posts here: the socket may be down when the relative presses it
    (a reconnection under way), and the detainee must not wait for a call that is over."""
    call_actions.do_relative_hang_up(request.call, request.leg)
    return redirect("portal:ended")


def ended(request):
    leg = call_access.portal_leg(request.session, pending=True, seat_lost=True)
    call = leg.call if leg else None
    establishment = call.establishment if call else None
    refused_at = request.session.get(REFUSED_KEY) if call is None else None
    if refused_at is not None:
        establishment = Establishment.objects.filter(pk=refused_at).first()
    return render(
        request,
        "portal/ended.html",
        {
            "call": call,
            "leg": leg,
            "establishment": establishment,
            "refused": refused_at is not None,
            # With an interruption's category, as the call page said it.
            "end_label": end_reason_label(call) if call else "",
        },
    )


def help_page(request, code: str):
    establishment = get_object_or_404(Establishment, code=code)
    return render(request, "portal/help.html", {"establishment": establishment})


def help_index(request):
    call = call_access.portal_call(request.session, pending=True)
    if call is not None:
        return redirect("portal:help", code=call.establishment.code)
    return render(
        request, "portal/help_index.html", {"establishments": Establishment.objects.all()}
    )


def privacy_charter(request, code: str | None = None):
    """What is kept about a relative, why and how long, and how to ask for it: with the
    retention of the relative's establishment when it is known (privacy.register)."""
    from privacy.register import charter

    if code is not None:
        establishment = get_object_or_404(Establishment, code=code)
    else:
        call = call_access.portal_call(request.session, pending=True)
        establishment = call.establishment if call is not None else None
    return render(
        request,
        "portal/privacy.html",
        {"establishment": establishment, "entries": charter(establishment)},
    )
