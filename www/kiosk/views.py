"""The kiosk in the video room: detainee sign-in, the booking now, "Appeler", the call."""

import time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_supported_language_variant
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookings.models import Booking
from calls import access as call_access
from calls import actions as call_actions
from calls.models import Call
from notify.models import Message
from parloir.params import a_datetime, an_id
from people.actions import SignInRefused, do_kiosk_sign_in

# When the kiosk's session was last renewed (a Unix time): see _keep_signed_in.
RENEWED_AT = "kiosk_renewed_at"


def _keep_signed_in(request, device) -> None:
    """A shared kiosk signs its detainee out after KIOSK_IDLE_SECONDS without this.

    The session is renewed (saved, its cookie sent again) at most every tenth of that
    time: a save per request was three queries on every kiosk page and heartbeat. The
    detainee is then signed out between nine tenths of the idle time and all of it after
    their last request."""
    call_access.touch_device(device)
    idle = settings.KIOSK_IDLE_SECONDS
    now = int(time.time())
    if now - request.session.get(RENEWED_AT, 0) >= max(1, idle // 10):
        request.session.set_expiry(idle)
        request.session[RENEWED_AT] = now


def kiosk_view(require_detainee: bool = True):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            principal = call_access.kiosk_principal(request.COOKIES, request.session)
            if principal is None:
                return render(request, "kiosk/unregistered.html", status=403)
            if require_detainee and principal.detainee is None:
                return redirect("kiosk:sign_in")
            request.kiosk = principal
            _keep_signed_in(request, principal.device)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@kiosk_view(require_detainee=False)
def sign_in(request):
    if request.kiosk.detainee is not None:
        return redirect("kiosk:home")
    error = None
    if request.method == "POST":
        device = request.kiosk.device
        try:
            detainee = do_kiosk_sign_in(
                device.room.quarter.establishment_id,
                request.POST.get("prison_number", ""),
                request.POST.get("pin", ""),
            )
        except SignInRefused:
            error = _(
                "Numéro d'écrou ou code PIN incorrect. Après 5 erreurs, le compte est bloqué "
                "15 minutes."
            )
        else:
            if detainee.quarter_id != device.room.quarter_id:
                error = _("Ce local de visiophonie n'est pas celui de votre quartier.")
            else:
                request.session.cycle_key()
                request.session[call_access.KIOSK_SESSION_DETAINEE] = detainee.pk
                request.session[call_access.KIOSK_SESSION_DEVICE] = device.pk
                response = redirect("kiosk:home")
                # A language picked on this screen wins; otherwise the detainee's own.
                if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
                    _set_language(response, detainee.language)
                return response
    return render(
        request,
        "kiosk/sign_in.html",
        {"device": request.kiosk.device, "error": error},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def activate(request):
    """Install the kiosk credential (given by staff when registering the device) in this browser."""
    error = None
    if request.method == "POST":
        credential = request.POST.get("credential", "").strip()
        if call_access.kiosk_device(credential) is not None:
            response = redirect("kiosk:sign_in")
            response.set_cookie(
                call_access.KIOSK_COOKIE,
                credential,
                max_age=365 * 24 * 3600,
                httponly=True,
                secure=settings.SESSION_COOKIE_SECURE,
                samesite="Strict",
            )
            return response
        error = _("Ce code d'activation n'est pas valide ou a été révoqué.")
    return render(request, "kiosk/activate.html", {"error": error}, status=400 if error else 200)


@require_POST
def sign_out(request):
    request.session.pop(call_access.KIOSK_SESSION_DETAINEE, None)
    request.session.pop(call_access.KIOSK_SESSION_DEVICE, None)
    response = redirect("kiosk:sign_in")
    # The kiosk is shared: the next detainee starts from French, not from this one's choice.
    response.delete_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def _set_language(response, language: str) -> None:
    try:
        language = get_supported_language_variant(language)
    except LookupError:
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def _bookings_today(principal):
    now = timezone.now()
    return (
        Booking.objects.filter(
            detainee=principal.detainee,
            room=principal.device.room,
            ends_at__gt=now,
            starts_at__lt=now + timezone.timedelta(hours=24),
        )
        .select_related("contact")
        .order_by("starts_at")
    )


@kiosk_view()
def home(request):
    from bookings.makeup import owed_calls

    principal = request.kiosk
    detainee = principal.detainee
    bookings = list(_bookings_today(principal))
    now = timezone.now()
    callable_booking = None
    refusal = None
    for booking in bookings:
        if booking.status != Booking.Status.BOOKED:
            continue
        try:
            call_actions.check_can_call(booking, booking.contact, now)
        except call_actions.CallRefused as exc:
            refusal = refusal or exc.messages[0]
        else:
            callable_booking = booking
            break
    # A call back to "booked" (its relative refused) is called again with "Appeler".
    open_call = (
        Call.objects.filter(detainee=detainee, state__in=Call.OPEN_STATES)
        .exclude(state=Call.State.BOOKED)
        .first()
    )
    return render(
        request,
        "kiosk/home.html",
        {
            "detainee": detainee,
            "room": principal.device.room,
            "bookings": bookings,
            "callable_booking": callable_booking,
            "refusal": refusal,
            "open_call": open_call,
            # The call page was replaced by a newer one (another tab, another screen).
            "open_elsewhere": open_call is not None and "ailleurs" in request.GET,
            "contacts": detainee.contacts.filter(status="approved"),
            "makeups": [
                {"call": lost, "minutes": -(-lost.lost_seconds // 60)}
                for lost in owed_calls(detainee)[:3]
            ],
            "suspension": detainee.active_suspension(now),
            "upcoming": Booking.objects.filter(
                detainee=detainee, ends_at__gt=now, status=Booking.Status.BOOKED
            )
            .select_related("contact")
            .order_by("starts_at")[:10],
        },
    )


@require_POST
@kiosk_view()
def start_call(request):
    principal = request.kiosk
    booking = get_object_or_404(
        Booking.objects.filter(detainee=principal.detainee, room=principal.device.room),
        pk=an_id(request.POST.get("booking")) or 0,
    )
    try:
        call = call_actions.do_start_call(booking, device_label=principal.device.label)
    except call_actions.CallRefused as exc:
        messages.error(request, exc.messages[0])
        return redirect("kiosk:home")
    return redirect("kiosk:call", call_id=call.pk)


def _kiosk_call_or_404(request, call_id):
    call = call_access.kiosk_call(request.kiosk, call_id)
    if call is None:
        raise Http404
    return call


@kiosk_view()
def call(request, call_id):
    call = _kiosk_call_or_404(request, call_id)
    latest_code = call.codes.select_related("message").first()
    return render(
        request,
        "kiosk/call.html",
        {
            "call": call,
            "code": latest_code,
            "message_status_labels": {value: str(label) for value, label in Message.Status.choices},
            "message_channel_labels": {
                value: str(label) for value, label in Message.Channel.choices
            },
            "establishment": call.establishment,
            "ws_path": "/ws/call/",
            # The call page makes no other request: without this, the session (and its
            # cookie) would lapse mid-call, and the next reconnection would be refused.
            "keep_alive_url": reverse("kiosk:keep_alive", args=[call.pk]),
            "keep_alive_ms": settings.KIOSK_IDLE_SECONDS * 1000 // 5,
        },
    )


@require_GET
def keep_alive(request, call_id):
    """The call page's heartbeat: it renews the session (and its cookie) while the call is
    open, and only then. A page left open after its call (a refused camera, a lost
    network) must not keep a shared kiosk signed in for the next detainee."""
    principal = call_access.kiosk_principal(request.COOKIES, request.session)
    call = call_access.kiosk_call(principal, call_id) if principal else None
    if call is None or not call.is_open:
        response = HttpResponse(status=410)
    else:
        _keep_signed_in(request, principal.device)
        response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@kiosk_view()
def new_code(request, call_id):
    call = _kiosk_call_or_404(request, call_id)
    try:
        call_actions.do_send_new_code(call, device_label=request.kiosk.device.label)
    except call_actions.CallRefused as exc:
        messages.error(request, exc.messages[0])
    return redirect("kiosk:call", call_id=call.pk)


@require_POST
@kiosk_view()
def cancel(request, call_id):
    call = _kiosk_call_or_404(request, call_id)
    call_actions.do_kiosk_hang_up(call, by=f"kiosk:{request.kiosk.device.label}")
    return redirect("kiosk:home")


BOOKING_DAYS_SHOWN = 14


@require_http_methods(["GET", "POST"])
@kiosk_view()
def book(request):
    """The detainee books a slot himself: free slots of his quarter's rooms, then a contact."""
    from itertools import groupby

    from bookings import contacts as booking_contacts
    from bookings.actions import do_book
    from bookings.availability import free_slots
    from bookings.makeup import owed_calls
    from bookings.models import Via

    principal = request.kiosk
    detainee = principal.detainee
    zone = detainee.establishment.zone
    contacts = detainee.contacts.filter(status="approved")
    # A make-up for minutes a platform fault took (bookings.makeup): outside the quotas.
    makeup_id = request.POST.get("rattrapage") or request.GET.get("rattrapage") or ""
    makeup_for = None
    if makeup_id:
        makeup_for = get_object_or_404(
            owed_calls(detainee), pk=makeup_id if makeup_id.isdigit() else 0
        )
    if request.method == "POST":
        # The contact to call, then any others the establishment allows (issue #19): the
        # optional choices left empty are ignored, do_book checks the rest.
        chosen = [value for value in request.POST.getlist("contact") if value]
        named = [get_object_or_404(contacts, pk=an_id(value) or 0) for value in chosen]
        if not named:
            raise Http404
        room_id, _sep, start_text = request.POST.get("slot", "").partition("|")
        room = get_object_or_404(detainee.quarter.rooms.all(), pk=an_id(room_id) or 0)
        starts_at = a_datetime(start_text)
        try:
            if starts_at is None:
                raise ValidationError(_("Choisissez un créneau."), code="slot")
            do_book(
                detainee,
                room=room,
                contacts=named,
                starts_at=starts_at,
                booked_via=Via.KIOSK,
                makeup_for=makeup_for,
            )
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
            return redirect(request.get_full_path())
        messages.success(
            request, _("Réservation enregistrée. Votre proche est prévenu par message.")
        )
        return redirect("kiosk:home")
    today = timezone.localdate(timezone=zone)
    slots = free_slots(
        detainee,
        today,
        today + timezone.timedelta(days=BOOKING_DAYS_SHOWN),
        via=Via.KIOSK,
        makeup=makeup_for is not None,
    )
    days = [
        (day, list(day_slots))
        for day, day_slots in groupby(slots, key=lambda s: s.local_start(zone).date())
    ]
    return render(
        request,
        "kiosk/book.html",
        {
            "days": days,
            "contacts": contacts,
            "more_contacts": range(booking_contacts.limit(detainee.establishment) - 1),
            "zone": zone,
            "detainee": detainee,
            "makeup_for": makeup_for,
        },
    )


@require_POST
@kiosk_view()
def cancel_booking(request, pk):
    from bookings.actions import do_cancel_booking
    from bookings.models import Via

    booking = get_object_or_404(Booking.objects.filter(detainee=request.kiosk.detainee), pk=pk)
    try:
        do_cancel_booking(
            booking, reason=request.POST.get("reason") or _("Annulé depuis la borne"), via=Via.KIOSK
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Réservation annulée. Votre proche est prévenu par message."))
    return redirect("kiosk:home")
