from dataclasses import dataclass

import pytest

from calls.models import Call
from calls.tests.helpers import Ready, ready_call, start
from tests.factories import staff_with_role


@dataclass
class Side:
    ready: Ready
    call: Call
    staff: dict


ROLES = ["director", "supervisor", "guard", "booking_officer", "auditor"]


def build_side() -> Side:
    ready = ready_call()
    call = start(ready)
    establishment = ready.site.establishment
    staff = {role: staff_with_role(role, establishment) for role in ROLES}
    return Side(ready, call, staff)


@pytest.fixture
def two_sides(transactional_db):
    return build_side(), build_side()
