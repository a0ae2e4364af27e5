"""Recordings for staff: the list, replay (a stated reason each time, audited), holds,
judicial exports and the destruction log.

Querysets are scoped with parloir.access: a recording of another establishment is not
found (404). Replay needs Can.REPLAY; holds and exports Can.MANAGE_ESTABLISHMENT; the
destruction log Can.READ_AUDIT.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from audit.log import record
from parloir import access
from parloir.params import a_date
from recordings import crypto, export, jobs, replay, retention
from recordings.models import DestructionLog, Export, Hold, Recording, ReplaySession
from www.console.decorators import staff_required

Can = access.Can
S = Recording.State


def _recordings(user, capability=Can.REPLAY):
    return access.scope(
        Recording.objects.select_related(
            "call__booking__room__quarter__establishment", "call__detainee", "call__contact"
        ),
        user,
        capability,
    )


def _messages_and_redirect(request, error: ValidationError, to: str, pk):
    for message in error.messages:
        messages.error(request, message)
    return redirect(to, pk)


def _stream(request, iterator):
    """Blocking iterators stream as they are under WSGI, through a thread under ASGI."""
    return replay.aiterate(iterator) if isinstance(request, ASGIRequest) else iterator


@staff_required(Can.REPLAY)
def recording_list(request):
    recordings = _recordings(request.user).exclude(state=S.EMPTY)
    wanted = request.GET
    if wanted.get("a_verifier"):
        recordings = recordings.filter(flagged=True)
    if wanted.get("etat") in S.values:
        recordings = recordings.filter(state=wanted["etat"])
    elif not wanted.get("detruits"):
        recordings = recordings.exclude(state=S.DESTROYED)
    if wanted.get("q"):
        text = wanted["q"].strip()
        recordings = recordings.filter(
            Q(call__detainee__prison_number__iexact=text)
            | Q(call__detainee__last_name__icontains=text)
            | Q(call__contact__last_name__icontains=text)
        )
    day = a_date(wanted.get("date"), "date")
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, time.min))
        recordings = recordings.filter(
            call__ended_at__gte=start, call__ended_at__lt=start + timedelta(days=1)
        )
    page = Paginator(recordings.order_by("-call__ended_at", "-pk"), 50).get_page(wanted.get("page"))
    flagged = _recordings(request.user).filter(flagged=True).exclude(state=S.DESTROYED).count()
    return render(
        request,
        "console/recordings/list.html",
        {"page": page, "flagged": flagged, "states": S.choices, "filters": wanted},
    )


@staff_required(Can.REPLAY)
def recording_detail(request, pk: int):
    recording = get_object_or_404(_recordings(request.user), pk=pk)
    establishment = recording.call.booking.room.quarter.establishment
    can_manage = access.can(request.user, Can.MANAGE_ESTABLISHMENT, establishment)
    return render(
        request,
        "console/recordings/detail.html",
        {
            "recording": recording,
            "call": recording.call,
            "holds": recording.holds.select_related("placed_by", "lifted_by"),
            "replays": recording.replays.select_related("staff")[:20],
            "exports": recording.exports.all()[:20],
            "can_manage": can_manage,
            "can_retry": access.can(request.user, Can.MANAGE_MEDIA, establishment),
            "hold_kinds": Hold.Kind.choices,
            "time_left": retention.lapse(recording),
            "min_reason": replay.MIN_REASON,
        },
    )


@require_POST
@staff_required(Can.REPLAY)
def replay_start(request, pk: int):
    recording = get_object_or_404(_recordings(request.user), pk=pk)
    try:
        session = replay.start_session(recording, request.user, request.POST.get("reason", ""))
    except ValidationError as error:
        return _messages_and_redirect(request, error, "console:recording_detail", pk)
    return redirect("console:recording_player", session.pk)


def _session(request, session_id) -> ReplaySession:
    """The user's own, unexpired session, on a recording they may still replay."""
    sessions = access.scope(
        ReplaySession.objects.select_related(
            "recording__call__booking__room__quarter__establishment",
            "recording__call__detainee",
            "recording__call__contact",
        ),
        request.user,
        Can.REPLAY,
    )
    return get_object_or_404(
        sessions, pk=session_id, staff=request.user, expires_at__gt=timezone.now()
    )


@never_cache
@staff_required(Can.REPLAY)
def player(request, session_id):
    session = _session(request, session_id)
    return render(
        request,
        "console/recordings/player.html",
        {"session": session, "recording": session.recording, "call": session.recording.call},
    )


@never_cache
@staff_required(Can.REPLAY)
def stream(request, session_id):
    """The decrypted media, for the page's <video>: whole, or the byte range asked for."""
    session = _session(request, session_id)
    recording = session.recording
    if recording.state != S.READY:
        raise Http404
    try:
        media = replay.open_for_replay(recording)
    except crypto.TamperedError:
        return HttpResponse(
            _("Le fichier de cet enregistrement a été altéré."),
            status=409,
            content_type="text/plain",
        )
    try:
        span = replay.parse_range(request.headers.get("Range"), media.size)
    except replay.Unsatisfiable:
        media.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{media.size}"
        return response
    partial = span is not None
    span = span or replay.ByteRange(0, media.size - 1)
    replay.touch(session)
    response = StreamingHttpResponse(
        _stream(request, replay.plaintext_chunks(recording, media, span)),
        status=206 if partial else 200,
        content_type="video/webm",
    )
    response["Content-Length"] = str(span.length)
    response["Accept-Ranges"] = "bytes"
    if partial:
        response["Content-Range"] = f"bytes {span.start}-{span.end}/{media.size}"
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@staff_required(Can.MANAGE_ESTABLISHMENT)
def hold_place(request, pk: int):
    recording = get_object_or_404(_recordings(request.user, Can.MANAGE_ESTABLISHMENT), pk=pk)
    try:
        retention.place_hold(
            recording,
            request.POST.get("kind", ""),
            request.POST.get("reference", ""),
            actor=request.user,
            note=request.POST.get("note", "")[:2000],
        )
    except ValidationError as error:
        return _messages_and_redirect(request, error, "console:recording_detail", pk)
    messages.success(request, _("La destruction est suspendue."))
    return redirect("console:recording_detail", pk)


@require_POST
@staff_required(Can.MANAGE_ESTABLISHMENT)
def hold_lift(request, pk: int):
    holds = access.scope(
        Hold.objects.select_related("recording"), request.user, Can.MANAGE_ESTABLISHMENT
    )
    hold = get_object_or_404(holds, pk=pk, lifted_at__isnull=True)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, _("Indiquez le motif de la levée."))
        return redirect("console:recording_detail", hold.recording_id)
    retention.lift_hold(hold, actor=request.user, reason=reason)
    messages.success(request, _("La suspension est levée."))
    return redirect("console:recording_detail", hold.recording_id)


@require_POST
@never_cache
@staff_required(Can.MANAGE_ESTABLISHMENT)
def export_create(request, pk: int):
    recording = get_object_or_404(_recordings(request.user, Can.MANAGE_ESTABLISHMENT), pk=pk)
    try:
        made = export.make_package(
            recording,
            authority=request.POST.get("authority", ""),
            reference=request.POST.get("reference", ""),
            actor=request.user,
        )
    except ValidationError as error:
        return _messages_and_redirect(request, error, "console:recording_detail", pk)
    # The passphrase is shown this once and never stored.
    return render(
        request,
        "console/recordings/export_done.html",
        {"recording": recording, "export": made.export, "passphrase": made.passphrase},
    )


@never_cache
@staff_required(Can.MANAGE_ESTABLISHMENT)
def export_download(request, export_id):
    exports = access.scope(
        Export.objects.select_related("recording__call__booking__room__quarter__establishment"),
        request.user,
        Can.MANAGE_ESTABLISHMENT,
    )
    package = get_object_or_404(exports, pk=export_id)
    path = export.stored_package(package)
    if path is None:
        return HttpResponse(
            _("Ce paquet n'est plus disponible : faites un nouvel export."),
            status=410,
            content_type="text/plain",
        )
    export.count_download(package, request.user)
    establishment = package.recording.call.booking.room.quarter.establishment
    name = f"parloir-{establishment.code}-appel-{package.recording.call_id}.zip"
    handle = path.open("rb")
    blocks = iter(lambda: handle.read(256 * 1024), b"")

    def read_and_close():
        try:
            yield from blocks
        finally:
            handle.close()

    response = StreamingHttpResponse(
        _stream(request, read_and_close()), content_type="application/zip"
    )
    response["Content-Length"] = str(path.stat().st_size)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store, private"
    return response


@require_POST
@staff_required(Can.MANAGE_MEDIA)
def recording_retry(request, pk: int):
    recording = get_object_or_404(_recordings(request.user, Can.MANAGE_MEDIA), pk=pk)
    if jobs.retry(recording, actor=request.user):
        messages.success(request, _("Le traitement sera relancé."))
    return redirect("console:recording_detail", pk)


def _public_key() -> str | None:
    try:
        return crypto.public_key_b64()
    except crypto.CryptoError:
        return None


@staff_required(Can.READ_AUDIT)
def destruction_log(request):
    ids = access.establishment_ids(request.user, Can.READ_AUDIT)
    entries = DestructionLog.objects.select_related("establishment")
    if ids is not None:
        entries = entries.filter(establishment_id__in=ids)
    start = a_date(request.GET.get("du"), "du")
    end = a_date(request.GET.get("au"), "au")
    start_at = timezone.make_aware(datetime.combine(start, time.min)) if start else None
    end_at = (
        timezone.make_aware(datetime.combine(end, time.min)) + timedelta(days=1) if end else None
    )
    if start_at:
        entries = entries.filter(at__gte=start_at)
    if end_at:
        entries = entries.filter(at__lt=end_at)
    if request.GET.get("format") == "json":
        document = retention.destruction_report(
            start=start_at,
            end=end_at,
            establishment_ids=ids,
            generated_by=request.user.get_username(),
        )
        record(
            "recording.destruction_report_exported",
            actor=request.user,
            data={"count": document["report"]["count"], "start": start_at, "end": end_at},
        )
        response = HttpResponse(
            json.dumps(document, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = (
            f'attachment; filename="parloir-destructions-{stamp}.json"'
        )
        return response
    page = Paginator(entries.order_by("-at", "-id"), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "console/recordings/destructions.html",
        {"page": page, "filters": request.GET, "public_key": _public_key()},
    )
