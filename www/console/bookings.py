"""Staff views of bookings: today's calls, a room's day and week, the guard's sheet, booking
for a detainee, cancelling and recording absences.

Every queryset is scoped with parloir.access; objects outside the user's establishments
are not found (404), never refused with a hint that they exist.
"""

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings import contacts as booking_contacts
from bookings.actions import (
    call_of,
    cancel_refusal,
    do_book,
    do_cancel_booking,
    do_mark_no_show,
    no_show_refusal,
)
from bookings.availability import can_start_call, free_slots, local_day_bounds, room_day
from bookings.models import Booking, Closure
from establishments.models import VideoRoom
from parloir import access
from parloir.params import an_id
from people.models import AuthorizedContact, Detainee
from www.console.decorators import staff_required
from www.console.zones import render_in_zone

BOOKING_DAYS = 14


def _bookings(user, capability=access.Can.VIEW):
    return access.scope(
        Booking.objects.select_related(
            "room__quarter__establishment", "detainee", "contact", "booked_by"
        ),
        user,
        capability,
    )


def _rooms(user):
    return access.scope(VideoRoom.objects.select_related("quarter__establishment"), user)


def _day_param(request, zone) -> date:
    try:
        return date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate(timezone=zone)


def _call_state(booking: Booking, now: datetime) -> str:
    if booking.status != Booking.Status.BOOKED:
        return booking.get_status_display()
    if can_start_call(booking, now):
        return _("Appel possible maintenant")
    if now < booking.starts_at:
        return _("À venir")
    return _("Créneau passé")


@staff_required()
def today(request):
    """Today's calls in one establishment, with their status."""
    establishments = list(access.establishments(request.user))
    if not establishments:
        raise Http404
    wanted = request.GET.get("establishment")
    establishment = next((e for e in establishments if str(e.pk) == wanted), establishments[0])
    day = _day_param(request, establishment.zone)
    start, end = local_day_bounds(day, establishment.zone)
    now = timezone.now()
    rows = [
        (booking, _call_state(booking, now))
        for booking in _bookings(request.user).filter(
            room__quarter__establishment=establishment, starts_at__gte=start, starts_at__lt=end
        )
    ]
    return render_in_zone(
        request,
        "console/bookings/today.html",
        {
            "establishments": establishments,
            "establishment": establishment,
            "day": day,
            "rows": rows,
            "rooms": _rooms(request.user).filter(quarter__establishment=establishment),
            "can_book": access.can(request.user, access.Can.BOOK, establishment),
        },
        establishment.zone,
    )


def _room_days(room, days, bookings, closures):
    """Each day's slots, with the booking or closure that fills each one."""
    zone = room.quarter.establishment.zone
    out = []
    for day in days:
        rows = []
        for start, end in room_day(room, day):
            booking = next((b for b in bookings if b.starts_at < end and b.ends_at > start), None)
            closure = next((c for c in closures if c.starts_at < end and c.ends_at > start), None)
            rows.append(
                {
                    "start": start.astimezone(zone),
                    "end": end.astimezone(zone),
                    "booking": booking,
                    "closure": closure,
                }
            )
        # Bookings made under earlier rules may fall outside today's slots: show them too.
        shown = {r["booking"].pk for r in rows if r["booking"]}
        day_start, day_end = local_day_bounds(day, zone)
        for b in bookings:
            if b.pk not in shown and day_start <= b.starts_at < day_end:
                rows.append(
                    {
                        "start": b.starts_at.astimezone(zone),
                        "end": b.ends_at.astimezone(zone),
                        "booking": b,
                        "closure": None,
                    }
                )
        rows.sort(key=lambda r: r["start"])
        out.append((day, rows))
    return out


@staff_required()
def room_calendar(request, pk: int):
    """A room's day or week (Monday to Sunday): free, booked and closed slots."""
    room = get_object_or_404(_rooms(request.user), pk=pk)
    establishment = room.quarter.establishment
    day = _day_param(request, establishment.zone)
    week = request.GET.get("view") == "week"
    first = day - timedelta(days=day.weekday()) if week else day
    days = [first + timedelta(days=i) for i in range(7 if week else 1)]
    start, _ = local_day_bounds(days[0], establishment.zone)
    _, end = local_day_bounds(days[-1], establishment.zone)
    bookings = list(
        _bookings(request.user)
        .filter(room=room, starts_at__lt=end, ends_at__gt=start)
        .exclude(status=Booking.Status.CANCELLED)
    )
    closures = list(
        Closure.objects.filter(Closure.covering(room), starts_at__lt=end, ends_at__gt=start)
    )
    step = timedelta(days=7 if week else 1)
    return render_in_zone(
        request,
        "console/bookings/room_calendar.html",
        {
            "room": room,
            "week": week,
            "day": day,
            "previous": day - step,
            "next": day + step,
            "days": _room_days(room, days, bookings, closures),
        },
        establishment.zone,
    )


@staff_required()
def room_sheet(request, pk: int):
    """The printable list of a room's calls for the guard on duty."""
    room = get_object_or_404(_rooms(request.user), pk=pk)
    establishment = room.quarter.establishment
    day = _day_param(request, establishment.zone)
    start, end = local_day_bounds(day, establishment.zone)
    bookings = (
        _bookings(request.user)
        .filter(room=room, starts_at__gte=start, starts_at__lt=end)
        .exclude(status=Booking.Status.CANCELLED)
    )
    return render_in_zone(
        request,
        "console/bookings/room_sheet.html",
        {"room": room, "establishment": establishment, "day": day, "bookings": bookings},
        establishment.zone,
    )


def _parse_slot(value: str) -> tuple[int, datetime]:
    room_id, _sep, start = (value or "").partition("|")
    try:
        moment = datetime.fromisoformat(start)
        if timezone.is_naive(moment):
            raise ValueError
        if an_id(room_id) is None:
            raise ValueError
        return int(room_id), moment
    except ValueError:
        raise ValidationError(_("Choisissez un créneau."), code="slot") from None


@staff_required(access.Can.BOOK)
def book(request):
    """Book a slot for a detainee, at his request."""
    detainees = access.scope(
        Detainee.objects.select_related("establishment", "quarter"),
        request.user,
        access.Can.BOOK,
    ).filter(status=Detainee.Status.PRESENT)
    detainee_id = request.GET.get("detainee") or request.POST.get("detainee")
    if not detainee_id:
        query = (request.GET.get("q") or "").strip()
        found = (
            detainees.filter(Q(prison_number__iexact=query) | Q(last_name__icontains=query))[:50]
            if query
            else []
        )
        return render(
            request, "console/bookings/book_search.html", {"query": query, "found": found}
        )
    if an_id(detainee_id) is None:
        raise Http404
    detainee = get_object_or_404(detainees, pk=an_id(detainee_id))
    contacts = detainee.contacts.filter(status=AuthorizedContact.Status.APPROVED)
    error = None
    if request.method == "POST":
        try:
            room_id, starts_at = _parse_slot(request.POST.get("slot"))
            room = get_object_or_404(_rooms(request.user), pk=room_id)
            # The contact to call (a radio), then any others the establishment allows
            # (issue #19; optional choices left empty are ignored).
            named = [
                contacts.filter(pk=an_id(value) or 0).first()
                for value in request.POST.getlist("contact")
                if value
            ]
            if not named or None in named:
                raise ValidationError(_("Choisissez le proche à appeler."), code="contact")
            booking = do_book(
                detainee,
                room=room,
                contacts=named,
                starts_at=starts_at,
                booked_via="staff",
                actor=request.user,
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Réservation enregistrée ; le proche est prévenu."))
            return redirect("console:booking_detail", pk=booking.pk)
    zone = detainee.establishment.zone
    first = timezone.localdate(timezone=zone)
    slots = free_slots(detainee, first, first + timedelta(days=BOOKING_DAYS - 1), via="staff")
    by_day: dict[date, list] = {}
    for slot in slots:
        by_day.setdefault(slot.starts_at.astimezone(zone).date(), []).append(
            (f"{slot.room_id}|{slot.starts_at.isoformat()}", slot, slot.starts_at.astimezone(zone))
        )
    return render_in_zone(
        request,
        "console/bookings/book.html",
        {
            "detainee": detainee,
            "contacts": contacts,
            "more_contacts": range(booking_contacts.limit(detainee.establishment) - 1),
            "by_day": sorted(by_day.items()),
            "error": error,
            "selected": request.POST.get("slot", ""),
        },
        zone,
        status=400 if error else 200,
    )


@staff_required()
def detail(request, pk: int):
    booking = get_object_or_404(_bookings(request.user), pk=pk)
    establishment_id = booking.room.quarter.establishment_id
    now = timezone.now()
    call = call_of(booking)
    may_cancel = (
        booking.status == Booking.Status.BOOKED
        and booking.ends_at > now
        and access.can(request.user, access.Can.BOOK, establishment_id)
    )
    # An open call is stopped from its page, not by cancelling its booking: say so
    # where the button would be.
    cancel_blocked = cancel_refusal(call, "staff") if may_cancel else None
    return render_in_zone(
        request,
        "console/bookings/detail.html",
        {
            "booking": booking,
            "state": _call_state(booking, now),
            "transitions": booking.transitions.select_related("by"),
            "can_cancel": may_cancel and cancel_blocked is None,
            "cancel_blocked": cancel_blocked.messages[0] if cancel_blocked else "",
            "call_url": reverse("console:call_watch", args=[call.pk])
            if cancel_blocked and access.can(request.user, access.Can.WATCH, establishment_id)
            else "",
            "can_mark_no_show": booking.status == Booking.Status.BOOKED
            and booking.starts_at <= now
            and no_show_refusal(call) is None
            and (
                access.can(request.user, access.Can.BOOK, establishment_id)
                or access.can(request.user, access.Can.CONTROL_CALL, establishment_id)
            ),
        },
        booking.room.quarter.establishment.zone,
    )


@require_POST
@staff_required(access.Can.BOOK)
def cancel(request, pk: int):
    booking = get_object_or_404(_bookings(request.user, access.Can.BOOK), pk=pk)
    try:
        do_cancel_booking(
            booking, reason=request.POST.get("reason", ""), via="staff", actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Réservation annulée ; le proche est prévenu."))
    return redirect("console:booking_detail", pk=booking.pk)


@require_POST
@staff_required()
def no_show(request, pk: int):
    booking = get_object_or_404(_bookings(request.user), pk=pk)
    try:
        do_mark_no_show(booking, actor=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Absence enregistrée."))
    return redirect("console:booking_detail", pk=booking.pk)
