"""On A's own rows, each role gets exactly the rights the capabilities give it."""

import pytest

from audit.models import AuditEvent
from establishments.models import Establishment, KioskDevice, Quarter, VideoRoom
from notify.models import Message
from people.models import (
    AuthorizedContact,
    Detainee,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)
from tests.admin.helpers import admin_base

NATIONAL, DIRECTOR, SUPERVISOR = "national_admin", "director", "supervisor"
GUARD, BOOKING, AUDITOR = "guard", "booking_officer", "auditor"
EVERYONE = {NATIONAL, DIRECTOR, SUPERVISOR, GUARD, BOOKING, AUDITOR}
MANAGERS = {NATIONAL, DIRECTOR}
OFFICERS = {NATIONAL, DIRECTOR, SUPERVISOR}
NOBODY: set[str] = set()

# Written from the foundation issue, not from parloir.access, so that the two check each other.
# model: (who views, who adds, who changes, who deletes)
EXPECTED = {
    Establishment: (EVERYONE, {NATIONAL}, MANAGERS, NOBODY),
    Quarter: (EVERYONE, MANAGERS, MANAGERS, NOBODY),
    VideoRoom: (EVERYONE, MANAGERS, MANAGERS, NOBODY),
    KioskDevice: (EVERYONE, MANAGERS, NOBODY, NOBODY),
    Detainee: (EVERYONE, OFFICERS, OFFICERS, NOBODY),
    PhoneAccount: (EVERYONE, OFFICERS, OFFICERS, NOBODY),
    AuthorizedContact: (EVERYONE, OFFICERS, NOBODY, NOBODY),
    Suspension: (EVERYONE, OFFICERS, NOBODY, NOBODY),
    StaffUser: (MANAGERS, MANAGERS, MANAGERS, NOBODY),
    Role: (MANAGERS, MANAGERS, NOBODY, MANAGERS),
    AuditEvent: ({NATIONAL, DIRECTOR, AUDITOR}, NOBODY, NOBODY, NOBODY),
    Message: ({NATIONAL, DIRECTOR, SUPERVISOR, GUARD, BOOKING}, NOBODY, NOBODY, NOBODY),
}

CASES = [(model, role) for model in EXPECTED for role in sorted(EVERYONE)]


def user_for(world, role):
    return world.national if role == NATIONAL else world.a.staff[role]


def expected_status(allowed: bool) -> int:
    return 200 if allowed else 403


@pytest.mark.parametrize(("model", "role"), CASES, ids=lambda v: getattr(v, "__name__", v))
def test_it_gives_each_role_its_rights_on_own_rows(world, as_user, model, role):
    views, adds, changes, deletes = EXPECTED[model]
    client = as_user(user_for(world, role))
    obj = world.a.objects()[model]
    base = admin_base(model)

    assert client.get(base).status_code == expected_status(role in views)
    assert client.get(base + "add/").status_code == expected_status(role in adds)
    page = client.get(f"{base}{obj.pk}/change/")
    assert page.status_code == expected_status(role in views)
    if role in views:
        # A view-only page has no save button.
        assert ('name="_save"' in page.content.decode()) == (role in changes)
    assert client.get(f"{base}{obj.pk}/delete/").status_code == expected_status(role in deletes)
    if role not in changes:
        assert client.post(f"{base}{obj.pk}/change/", {}).status_code == 403
    index = client.get("/admin/").content.decode()
    assert (f'href="{base}"' in index) == (role in views)


def test_it_covers_every_registered_model():
    from django.contrib import admin

    # A newly registered model needs a line in EXPECTED: its rights are a decision.
    assert set(admin.site._registry) == set(EXPECTED)
