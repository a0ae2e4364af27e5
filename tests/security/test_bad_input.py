"""Issue #17, finding 7: every view answers impossible dates, numbers and ids with a clear
error, never a 500. The walk covers every URL the project routes (console, kiosk, portal,
admin, bookings, notify), as the principal each part serves, with ids that exist, ids
past the database's integers, and a query string and a form full of impossible values."""

import uuid

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from calls.access import KIOSK_COOKIE
from calls.tests.helpers import ready_call, sent_code, start
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

IMPOSSIBLE = {
    "date": "2024-13-45",
    "du": "2024-02-30",
    "au": "9999-99-99",
    "since": "2024-13-45",
    "until": "2024-00-00",
    "page": "-1x",
    "establishment": "abc",
    "detainee": "99999999999999999999999",
    "contact": "1e309",
    "booking": "abc",
    "room": "-5",
    "slot": "99999999999999999999999|2030-99-99T99:99",
    "starts_at": "2030-99-99T99:99",
    "ends_at": "2030-99-99T99:99",
    "view": "week",
    "m": "x",
    "a": "99999999999999999999999",
    "t": "-",
    "s": "",
    "q": "nul\x00byte",
    "code": "12\x0034",
    "etat": "nothing",
    "category": "nothing",
    "decision": "maybe",
    "reason": "x" * 5000,
    "fragment": "1",
    "next": "https://evil.example/",
    "at__gte": "2024-13-45",
    "at__year": "abc",
    "o": "abc",
    "p": "abc",
}
HUGE = "9" * 18  # fits the <id:…> converter, matches no row
SKIP = {"console:logout", "kiosk:sign_out", "set_language"}


def _patterns(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin" or "admin" in str(entry.pattern):
                continue  # walked through the admin's own registry below
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


def _fill(route: str, values: dict) -> str:
    import re

    def value(match):
        converter, name = match.group(1) or "str", match.group(2)
        if converter == "uuid":
            return str(uuid.uuid4())
        return str(values.get(name, HUGE if converter in ("id", "int") else "zzz"))

    path = re.sub(r"<(?:(\w+):)?(\w+)>", value, route)
    return "/" + path.lstrip("^").rstrip("$")


@pytest.fixture
def world(settings):
    ready = ready_call()
    call = start(ready)
    code = sent_code(settings)
    establishment = ready.site.establishment
    admin_user = staff_with_role("national_admin", None, is_superuser=True)
    return ready, call, code, establishment, admin_user


def _clients(world):
    ready, call, code, _establishment, admin_user = world
    staff = sign_in(Client(), admin_user)
    kiosk = Client()
    kiosk.cookies[KIOSK_COOKIE] = ready.credential
    kiosk.post("/kiosk/", {"prison_number": ready.site.detainee.prison_number, "pin": "1234"})
    relative = Client()
    relative.post(f"/j/{call.link_token}", {"code": code})
    relative.post("/conditions", {"decision": "accept"})
    return {"console": staff, "admin": staff, "kiosk": kiosk, "": relative, "portal": relative}


FORM_FIELDS = ("starts_at", "ends_at", "slot", "contact", "booking", "code", "decision", "category")


def _check(client, url, problems):
    """All the impossible values at once; then, where the view answers, each alone, so
    that one refused early does not hide another further on."""

    def send(method, data):
        response = getattr(client, method)(url, data)
        if response.status_code >= 500:
            shown = data if len(data) < 3 else "all"
            problems.append(f"{method.upper()} {url} {shown}: {response.status_code}")
        return response.status_code

    send("get", IMPOSSIBLE)
    if send("get", {}) == 200:
        for name, value in IMPOSSIBLE.items():
            send("get", {name: value})
    if send("post", IMPOSSIBLE) not in (403, 404, 405):
        for name in FORM_FIELDS:
            send("post", {name: IMPOSSIBLE[name]})


def _objects(call, staff) -> dict[str, int]:
    """A real row for each id the console's URLs name."""
    from django.utils import timezone

    from people.models import Suspension
    from recordings.models import Hold, Recording

    recording, _ = Recording.objects.get_or_create(
        call=call, defaults={"retention_days": 90, "retention_until": timezone.now()}
    )
    hold = Hold.objects.create(recording=recording, kind="judicial", reference="PV 1")
    suspension = Suspension.objects.create(
        detainee=call.detainee,
        starts_at=timezone.now() + timezone.timedelta(days=30),
        ends_at=timezone.now() + timezone.timedelta(days=31),
        reason="Pour le test",
        decided_by=staff,
    )
    return {
        "booking": call.booking_id,
        "room": call.booking.room_id,
        "call": call.pk,
        "detainee": call.detainee_id,
        "contact": call.contact_id,
        "suspension": suspension.pk,
        "recording_hold_lift": hold.pk,
        "recording": recording.pk,
    }


def test_every_routed_view_answers_impossible_values_without_a_server_error(world):
    ready, call, _code, _establishment, admin_user = world
    clients = _clients(world)
    objects = _objects(call, admin_user)
    problems: list[str] = []
    walked = 0
    for name, route in _patterns():
        if name in SKIP or name.endswith(":None") or "ws/" in route:
            continue
        client = clients.get(name.split(":")[0], clients[""])
        short = name.split(":")[-1]
        pk = next((pk for prefix, pk in objects.items() if short.startswith(prefix)), None)
        if short == "recording_hold_lift":
            pk = objects["recording_hold_lift"]
        real = {
            "pk": pk or call.booking_id,
            "call_id": call.pk,
            "link_token": call.link_token,
            "token": "nothing",
            "code": ready.site.establishment.code,
        }
        for values in (real, {}):
            _check(client, _fill(route, values), problems)
            walked += 1
    assert walked > 60
    assert not problems, problems


def test_every_admin_page_answers_impossible_values_without_a_server_error(world):
    clients = _clients(world)
    staff = clients["admin"]
    problems: list[str] = []
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        staff.get(base, IMPOSSIBLE).status_code >= 500 and problems.append(f"GET {base}")
        for object_id in ("abc", "9" * 30, "1%00"):
            for suffix in ("change/", "delete/"):
                url = f"{base}{object_id}/{suffix}"
                if staff.get(url).status_code >= 500:
                    problems.append(f"GET {url}")
    assert not problems, problems


def test_the_issues_two_cases_answer_a_clear_error(world):
    ready, call, _code, _establishment, _admin = world
    staff = _clients(world)["console"]
    response = staff.get("/console/enregistrements/?date=2024-13-45")
    assert response.status_code == 400
    assert "2024-13-45" in response.content.decode()
    response = staff.post(
        f"/console/detenus/{call.detainee_id}/suspendre/",
        {"ends_at": "2030-99-99T99:99", "reason": "Incident"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Indiquez la fin de la suspension." in response.content.decode()
