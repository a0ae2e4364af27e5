"""The audit log for auditors: search, export, and the state of the hash chain."""

import csv
import json
from datetime import datetime, time

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.log import record, verify
from audit.models import AuditEvent
from parloir import access
from parloir.params import a_date
from www.console.decorators import staff_required

EXPORT_FIELDS = [
    "seq",
    "at",
    "actor_label",
    "establishment_id",
    "action",
    "target_type",
    "target_id",
    "data",
    "hash",
]


def _events(request):
    user = request.user
    ids = access.establishment_ids(user, access.Can.READ_AUDIT)
    events = AuditEvent.objects.all()
    if ids is not None:
        # Events with no establishment (system-wide) are for national auditors only.
        events = events.filter(establishment_id__in=ids)
    filters = request.GET
    if filters.get("action"):
        events = events.filter(action__startswith=filters["action"])
    if filters.get("actor"):
        events = events.filter(actor_label__icontains=filters["actor"])
    if filters.get("target"):
        events = events.filter(
            Q(target_id=filters["target"]) | Q(target_type__iexact=filters["target"])
        )
    zone = timezone.get_current_timezone()
    if since := a_date(filters.get("since"), "since"):
        events = events.filter(at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until := a_date(filters.get("until"), "until"):
        events = events.filter(at__lte=datetime.combine(until, time.max, tzinfo=zone))
    return events.order_by("-seq")


@staff_required(access.Can.READ_AUDIT)
def audit_log(request):
    events = _events(request)
    export = request.GET.get("export")
    if export in ("csv", "json"):
        record(
            "audit.exported",
            actor=request.user,
            data={
                "format": export,
                "filters": {k: v for k, v in request.GET.items() if k != "export"},
            },
        )
        return _export(events, export)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    breach = verify()
    return render(
        request,
        "console/audit.html",
        {"page": page, "breach": breach, "filters": request.GET, "query": request.GET.urlencode()},
    )


def _row(event: AuditEvent) -> list:
    return [
        event.seq,
        event.at.isoformat(),
        event.actor_label,
        event.establishment_id or "",
        event.action,
        event.target_type,
        event.target_id,
        json.dumps(event.data, ensure_ascii=False, sort_keys=True),
        event.hash,
    ]


class _Echo:
    def write(self, value):
        return value


def _export(events, kind: str) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if kind == "json":
        payload = [dict(zip(EXPORT_FIELDS, _row(e), strict=True)) for e in events.iterator()]
        response = HttpResponse(
            json.dumps(payload, ensure_ascii=False, indent=1), content_type="application/json"
        )
    else:
        writer = csv.writer(_Echo())
        rows = (writer.writerow(_row(e)) for e in events.iterator())
        response = StreamingHttpResponse(
            (line for chunk in ([writer.writerow(EXPORT_FIELDS)], rows) for line in chunk),
            content_type="text/csv; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="parloir-audit-{stamp}.{kind}"'
    return response
