"""Video rooms in the admin: what may change once a room has a history."""

from datetime import timedelta

from django.utils import timezone

from bookings.models import Booking
from bookings.tests.factories import booking_row
from establishments.models import VideoRoom
from tests.admin.helpers import add, change, errors_of

REFUSED = (
    "Ce local a encore des réservations à venir : annulez-les ou attendez qu'elles soient "
    "passées avant de changer « réservé aux avocats »."
)


def booking_in(site, hours_from_now: float, **kwargs) -> Booking:
    return booking_row(site, timezone.now() + timedelta(hours=hours_from_now), **kwargs)


# The "réservé aux avocats" flag


def test_it_refuses_to_reserve_a_room_for_lawyers_while_bookings_are_to_come(world, as_user):
    booking_in(world.a, 2)
    client = as_user(world.a.staff["director"])
    response = change(client, world.a.room, for_lawyers="on")
    assert errors_of(response, "for_lawyers") == [REFUSED]
    world.a.room.refresh_from_db()
    assert world.a.room.for_lawyers is False


def test_it_refuses_to_untick_the_lawyers_flag_while_bookings_are_to_come(world, as_user):
    VideoRoom.objects.filter(pk=world.a.room.pk).update(for_lawyers=True)
    # Under way: it started half an hour ago and ends in a quarter of an hour.
    booking_in(world.a, -0.5, minutes=45)
    client = as_user(world.a.staff["director"])
    response = change(client, world.a.room, for_lawyers=None)  # unticked
    assert errors_of(response, "for_lawyers") == [REFUSED]
    world.a.room.refresh_from_db()
    assert world.a.room.for_lawyers is True


def test_it_says_why_in_english_too(world, as_user):
    booking_in(world.a, 2)
    client = as_user(world.a.staff["director"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    response = change(client, world.a.room, for_lawyers="on")
    assert errors_of(response, "for_lawyers") == [
        "This room still has bookings to come: cancel them or wait until they are over "
        "before changing “reserved for lawyers”."
    ]


def test_it_changes_the_flag_once_only_past_or_cancelled_bookings_remain(world, as_user):
    booking_in(world.a, -3)
    booking_in(world.a, 2, status=Booking.Status.CANCELLED)
    client = as_user(world.a.staff["director"])
    response = change(client, world.a.room, for_lawyers="on")
    assert response.status_code == 302
    world.a.room.refresh_from_db()
    assert world.a.room.for_lawyers is True


def test_it_lets_the_rest_of_a_booked_room_change(world, as_user):
    booking_in(world.a, 2)
    client = as_user(world.a.staff["director"])
    response = change(client, world.a.room, name="Salle Alpha rénovée")
    assert response.status_code == 302
    world.a.room.refresh_from_db()
    assert world.a.room.name == "Salle Alpha rénovée"


# The quarter


def test_it_keeps_a_room_in_its_quarter(world, as_user):
    # A national administrator may write to both establishments: only the form stops him.
    client = as_user(world.national)
    response = change(client, world.a.room, quarter=str(world.b.quarter.pk))
    assert response.status_code == 302
    world.a.room.refresh_from_db()
    assert world.a.room.quarter == world.a.quarter


def test_it_sets_the_quarter_of_a_new_room(world, as_user):
    client = as_user(world.a.staff["director"])
    response = add(client, VideoRoom, quarter=str(world.a.quarter.pk), name="Salle neuve")
    assert response.status_code == 302
    assert VideoRoom.objects.get(name="Salle neuve").quarter == world.a.quarter
