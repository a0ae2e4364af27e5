"""Kannel's delivery reports: GET /notify/kannel/dlr?m=&a=&s=&t=%d&r=%A."""

import hmac
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from notify import kannel
from notify.actions import do_report_delivery

log = logging.getLogger(__name__)

# Kannel's DLR types (dlr-mask bits).
DELIVERED, FAILED, BUFFERED, SMSC_ACK, SMSC_REJECT = 1, 2, 4, 8, 16


@never_cache
@require_GET
def kannel_dlr(request):
    if not settings.KANNEL_DLR_TOKEN:
        return HttpResponseForbidden("delivery reports are not configured")
    try:
        message_id = int(request.GET["m"])
        attempt = int(request.GET["a"])
        kind = int(request.GET["t"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest("m, a and t are required integers")
    expected = kannel.dlr_signature(message_id, attempt)
    if not hmac.compare_digest(expected, request.GET.get("s", "")):
        log.warning("Kannel DLR with a bad signature for message %s", message_id)
        return HttpResponseForbidden("bad signature")
    reply = request.GET.get("r", "")[:300]
    if kind == DELIVERED:
        do_report_delivery(
            message_id=message_id, attempt=attempt, delivered=True, detail=f"DLR 1 {reply}"
        )
    elif kind in (FAILED, SMSC_REJECT):
        do_report_delivery(
            message_id=message_id, attempt=attempt, delivered=False, detail=f"DLR {kind} {reply}"
        )
    # 4 (buffered) and 8 (the SMSC took it) change nothing: the message is already "sent".
    return HttpResponse("ok", content_type="text/plain")
