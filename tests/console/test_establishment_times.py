"""Console pages show an establishment's times in its own zone, the one its suspension
form reads typed times in, whatever the server's zone (Europe/Paris)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from calls.models import CallTransition
from calls.tests.helpers import ready_call, start
from establishments.models import Establishment
from tests.factories import sign_in, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)

# 10:00 in La Réunion (UTC+4) is 06:00 UTC, 07:00 in Paris.
REUNION_TEN = "01/01/2030 10:00"
PARIS_SEVEN = "01/01/2030 07:00"
SIX_UTC = datetime(2030, 1, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def reunion(client):
    ready = ready_call()
    call = start(ready)
    establishment = ready.site.establishment
    Establishment.objects.filter(pk=establishment.pk).update(time_zone="Indian/Reunion")
    type(call).objects.filter(pk=call.pk).update(created_at=SIX_UTC)
    CallTransition.objects.filter(call=call).update(at=SIX_UTC)
    supervisor = staff_with_role("supervisor", establishment)
    sign_in(client, supervisor)
    return client, call


def test_a_suspension_typed_in_the_establishments_zone_shows_in_it(reunion):
    client, call = reunion
    response = client.post(
        reverse("console:detainee_suspend", args=[call.detainee_id]),
        {"starts_at": "2030-01-01T10:00", "ends_at": "2030-01-08T10:00", "reason": "Sanction"},
    )
    assert response.status_code == 302
    suspension = call.detainee.suspensions.get()
    assert suspension.starts_at == SIX_UTC
    html = client.get(reverse("console:detainee", args=[call.detainee_id])).content.decode()
    assert f"{REUNION_TEN} → 08/01/2030 10:00" in html
    assert PARIS_SEVEN not in html


@pytest.mark.parametrize("page", ["call_watch", "detainee", "contact"])
def test_a_calls_times_show_in_its_establishments_zone(reunion, page):
    client, call = reunion
    pk = {"call_watch": call.pk, "detainee": call.detainee_id, "contact": call.contact_id}[page]
    html = client.get(reverse(f"console:{page}", args=[pk])).content.decode()
    assert REUNION_TEN in html
    assert PARIS_SEVEN not in html
