"""Live calls for staff: the wall, watching, warning, interrupting; people's history."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from calls import actions as call_actions
from calls.models import Call, CallRelative, CallWarning, Participant
from ops import nodes
from parloir import access
from parloir.params import a_datetime
from people import actions as people_actions
from people.models import AuthorizedContact, Detainee, Suspension
from www.console.decorators import staff_required
from www.console.zones import render_in_zone

POOR_LINK_SECONDS = 30


def _calls(user, capability):
    return access.scope(
        Call.objects.select_related(
            "booking__room__quarter__establishment", "detainee", "contact", "media_node"
        ),
        user,
        capability,
    )


def _with_quality(calls):
    recent = timezone.now() - timedelta(seconds=POOR_LINK_SECONDS)
    calls = calls.prefetch_related(
        Prefetch(
            "participants",
            queryset=Participant.objects.filter(
                left_at__isnull=True, role__in=["kiosk", "relative"]
            ),
            to_attr="sides",
        ),
        Prefetch(
            "relatives",
            queryset=CallRelative.objects.filter(
                refused_at=None, left_at=None, removed_at=None
            ).select_related("contact"),
            to_attr="present_relatives",
        ),
    )
    for call in calls:
        call.poor_link = [
            p.role for p in call.sides if p.last_slowlink_at and p.last_slowlink_at > recent
        ]
        yield call


@staff_required(access.Can.WATCH)
def live_wall(request):
    calls = list(
        _with_quality(_calls(request.user, access.Can.WATCH).filter(state__in=Call.OPEN_STATES))
    )
    template = (
        "console/calls/_wall.html" if request.GET.get("fragment") else "console/calls/wall.html"
    )
    return render(request, template, {"calls": calls})


@staff_required(access.Can.WATCH)
def watch(request, pk):
    call = get_object_or_404(_calls(request.user, access.Can.WATCH), pk=pk)
    establishment = call.booking.room.quarter.establishment
    establishment_id = establishment.pk
    return render_in_zone(
        request,
        "console/calls/watch.html",
        {
            "call": call,
            # Calls with lawyers are never watched nor listened to: their page keeps the
            # controls (an early call must still be stoppable) and shows no media.
            "monitorable": call.recorded,
            "can_control": access.can(request.user, access.Can.CONTROL_CALL, establishment_id),
            "can_suspend": access.can(request.user, access.Can.SUSPEND, establishment_id),
            "categories": Call.InterruptCategory.choices,
            "warning_presets": CallWarning.Preset.choices,
            "relative_language": _language_name(_relative_language(call)),
            # Empty for a call the privacy purge unlinked from its people.
            "detainee_language": _language_name(call.detainee.language if call.detainee else ""),
            "recording": _recording_of(call),
            "can_replay": access.can(request.user, access.Can.REPLAY, establishment_id),
            "replay_roles": _role_labels(access.Can.REPLAY),
            "transitions": call.transitions.select_related("by_staff"),
            "warnings": call.warnings.select_related("staff"),
            # What platform faults cost this call, and what was given back.
            "outages": list(call.outages.all()),
            "rooms": call.rooms.select_related("node"),
            "makeup": call.makeup_bookings.exclude(status="cancelled").first(),
            # What the call cost the detainee, and by which rule (issue #19: per call
            # unless the establishment charges per relative).
            "charged_euros": f"{call.charged_cents / 100:.2f}",
            "charge_per_relative": establishment.charge_per_relative,
            "relatives_in": call.relatives.filter(participants__isnull=False).distinct().count(),
            # Several relatives: each one's place in the call; staff may remove one.
            "relatives": call.relatives.select_related("contact") if call.contact_id else [],
        },
        establishment.zone,
    )


def _recording_of(call: Call):
    """The call's recording, unless there is none to replay (a lawyer's call, no media)."""
    from recordings.models import Recording

    return Recording.objects.filter(call=call).exclude(state=Recording.State.EMPTY).first()


def _role_labels(capability: str) -> list[str]:
    from people.models import Role

    return [str(Role.Name(role).label) for role in access.roles_with(capability)]


def _relative_language(call: Call) -> str:
    """The language the relative reads the portal in: the one of their last consent
    (the portal's language menu), else the one recorded for the contact."""
    consented_in = call.consents.order_by("-at").values_list("language", flat=True).first()
    return consented_in or (call.contact.language if call.contact else "")


def _language_name(code: str) -> str:
    return dict(settings.LANGUAGES).get(code, code)


@require_POST
@staff_required(access.Can.CONTROL_CALL)
def warn(request, pk):
    call = get_object_or_404(_calls(request.user, access.Can.CONTROL_CALL), pk=pk)
    try:
        call_actions.do_warn(
            call,
            request.POST.get("text", ""),
            preset=request.POST.get("preset", ""),
            staff=request.user,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Avertissement affiché sur les deux écrans."))
    return redirect("console:call_watch", pk=call.pk)


@require_POST
@staff_required(access.Can.CONTROL_CALL)
def interrupt(request, pk):
    call = get_object_or_404(_calls(request.user, access.Can.CONTROL_CALL), pk=pk)
    try:
        call_actions.do_interrupt(
            call,
            category=request.POST.get("category", ""),
            reason=request.POST.get("reason", ""),
            urgent=request.POST.get("urgent") == "1",
            staff=request.user,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Appel interrompu."))
    return redirect("console:call_watch", pk=call.pk)


@require_POST
@staff_required(access.Can.CONTROL_CALL)
def remove_relative(request, pk, position):
    """Take one relative out of the call, with a reason (audited); it goes on for the
    others."""
    call = get_object_or_404(_calls(request.user, access.Can.CONTROL_CALL), pk=pk)
    leg = get_object_or_404(CallRelative, call=call, position=position)
    try:
        call_actions.do_remove_relative(
            call, leg, staff=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Proche retiré de l'appel."))
    return redirect("console:call_watch", pk=call.pk)


@staff_required()
def detainee(request, pk):
    person = get_object_or_404(
        access.scope(Detainee.objects.select_related("establishment", "quarter"), request.user),
        pk=pk,
    )
    return render_in_zone(
        request,
        "console/calls/detainee.html",
        {
            "detainee": person,
            "calls": person.calls.select_related("contact", "booking__room").order_by(
                "-created_at"
            )[:100],
            "suspensions": person.suspensions.select_related("decided_by", "lifted_by"),
            "contacts": person.contacts.all(),
            "can_suspend": access.can(request.user, access.Can.SUSPEND, person.establishment_id),
            "now": timezone.now(),
        },
        person.establishment.zone,
    )


@require_POST
@staff_required(access.Can.SUSPEND)
def suspend(request, pk):
    person = get_object_or_404(
        access.scope(Detainee.objects.all(), request.user, access.Can.SUSPEND), pk=pk
    )
    if request.POST.get("starts_at") and a_datetime(request.POST["starts_at"]) is None:
        messages.error(request, _("La date de début n'existe pas."))
        return redirect("console:detainee", pk=person.pk)
    starts_at = a_datetime(request.POST.get("starts_at")) or timezone.now()
    ends_at = a_datetime(request.POST.get("ends_at"))
    if starts_at and timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at, person.establishment.zone)
    if ends_at and timezone.is_naive(ends_at):
        ends_at = timezone.make_aware(ends_at, person.establishment.zone)
    if ends_at is None:
        # Missing or impossible (2030-99-99): the form says which field to fix.
        messages.error(request, _("Indiquez la fin de la suspension."))
        return redirect("console:detainee", pk=person.pk)
    try:
        people_actions.do_suspend(
            person,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Suspension enregistrée."))
    return redirect("console:detainee", pk=person.pk)


@require_POST
@staff_required(access.Can.SUSPEND)
def lift(request, pk):
    suspension = get_object_or_404(
        access.scope(
            Suspension.objects.select_related("detainee"), request.user, access.Can.SUSPEND
        ),
        pk=pk,
    )
    try:
        people_actions.do_lift_suspension(
            suspension, reason=request.POST.get("reason", ""), actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Suspension levée."))
    return redirect("console:detainee", pk=suspension.detainee_id)


@staff_required()
def contact(request, pk):
    person = get_object_or_404(
        access.scope(
            AuthorizedContact.objects.select_related("detainee__establishment"), request.user
        ),
        pk=pk,
    )
    return render_in_zone(
        request,
        "console/calls/contact.html",
        {
            "contact": person,
            "calls": person.calls.select_related("detainee", "booking__room").order_by(
                "-created_at"
            )[:100],
            "decisions": person.decisions.select_related("decided_by"),
        },
        person.detainee.establishment.zone,
    )


# The media nodes page reloads itself: an operator leaves it open on a screen.
MEDIA_PAGE_REFRESH_SECONDS = 10


@staff_required()
def media_nodes(request):
    # Nodes serve every establishment and hold no personal data: any staff member may look.
    return render(
        request,
        "console/calls/media.html",
        {"statuses": nodes.statuses(), "refresh_seconds": MEDIA_PAGE_REFRESH_SECONDS},
    )
