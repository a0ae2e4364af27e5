"""What a call's set-up costs the database, request by request (issue #16: at the top of
the hour the web tier's CPU goes largely to building and running these queries). A
budget that grows says so here rather than in a benchmark run weeks later."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from calls.access import KIOSK_COOKIE
from calls.models import Call
from calls.tests.helpers import ready_call

pytestmark = pytest.mark.django_db(transaction=True)

# Queries per request of a set-up, on PostgreSQL and SQLite alike (BEGIN, COMMIT and
# SAVEPOINT included): "Appeler" delivers the code message to the outbox inside its
# request, as the SMS gateways' first attempt does.
BUDGET = {
    "appeler": 42,
    "kiosk call page": 6,
    "link page": 1,
    "code": 20,
    "terms": 11,
    "monitoring": 20,
    "relative call page": 4,
}


def _counted(name: str, counts: dict, request):
    with CaptureQueriesContext(connection) as queries:
        response = request()
    counts[name] = len(queries)
    assert response.status_code in (200, 302), (name, response.status_code)
    return response


def test_a_call_set_up_stays_within_its_query_budget(settings):
    ready = ready_call()
    kiosk = Client()
    kiosk.cookies[KIOSK_COOKIE] = ready.credential
    kiosk.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    kiosk.get("/kiosk/accueil")
    counts: dict[str, int] = {}
    _counted("appeler", counts, lambda: kiosk.post("/kiosk/appel", {"booking": ready.booking.pk}))
    call = Call.objects.get(booking=ready.booking)
    _counted("kiosk call page", counts, lambda: kiosk.get(f"/kiosk/appel/{call.pk}"))
    text = json.loads(settings.OUTBOX_PATH.read_text().splitlines()[-1])["text"]
    link, code = re.search(r"/j/([^#\s]+)#(\d+)", text).groups()
    page = Client()
    _counted("link page", counts, lambda: page.get(f"/j/{link}"))
    _counted("code", counts, lambda: page.post(f"/j/{link}", {"code": code}))
    _counted("terms", counts, lambda: page.post("/conditions", {"decision": "accept"}))
    _counted("monitoring", counts, lambda: page.post("/surveillance", {"decision": "accept"}))
    _counted("relative call page", counts, lambda: page.get("/appel"))
    over = {name: (counts[name], most) for name, most in BUDGET.items() if counts[name] > most}
    assert not over, f"over budget (queries, budget): {over}; all: {counts}"
