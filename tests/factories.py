"""factory_boy factories for the domain. Valid by default: tests change only what they test."""

import factory
from django.utils import timezone

from establishments.models import Establishment, KioskDevice, Quarter, VideoRoom
from people.models import AuthorizedContact, Detainee, PhoneAccount, Role, StaffUser


class EstablishmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Establishment

    name = factory.Sequence(lambda n: f"Centre pénitentiaire n°{n}")
    code = factory.Sequence(lambda n: f"cp-{n}")
    address = "1 rue de la Prison, 44000 Nantes"
    contact_phone = "+33251421100"
    contact_hours = "Du lundi au vendredi, 9h–12h et 14h–17h"


class QuarterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quarter

    establishment = factory.SubFactory(EstablishmentFactory)
    code = factory.Sequence(lambda n: f"Q{n}")
    name = factory.LazyAttribute(lambda o: f"Quartier {o.code}")
    kind = Quarter.Kind.MAISON_ARRET


class VideoRoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VideoRoom

    quarter = factory.SubFactory(QuarterFactory)
    name = factory.Sequence(lambda n: f"Salle visio {n}")


class KioskDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KioskDevice

    room = factory.SubFactory(VideoRoomFactory)
    label = factory.Sequence(lambda n: f"Borne {n}")
    credential_hash = "!"
    credential_prefix = factory.Sequence(lambda n: f"k{n:08d}")
    authorized_at = factory.LazyFunction(timezone.now)


class DetaineeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Detainee

    quarter = factory.SubFactory(QuarterFactory)
    establishment = factory.LazyAttribute(lambda o: o.quarter.establishment)
    prison_number = factory.Sequence(lambda n: f"{100000 + n}")
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    first_name = "Karim"


class PhoneAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PhoneAccount
        skip_postgeneration_save = True

    detainee = factory.SubFactory(DetaineeFactory)
    active = True

    @factory.post_generation
    def pin(obj, create, extracted, **kwargs):
        obj.set_pin(extracted or "1234")
        if create:
            obj.save(update_fields=["pin_hash"])


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuthorizedContact

    detainee = factory.SubFactory(DetaineeFactory)
    first_name = "Amina"
    last_name = factory.Sequence(lambda n: f"Benali{n}")
    phone_number = factory.Sequence(lambda n: f"+336{12000000 + n:08d}")
    line_type = "mobile"
    relationship = AuthorizedContact.Relationship.SPOUSE
    language = "fr"
    status = AuthorizedContact.Status.APPROVED


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffUser
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


def staff_with_role(role: str, establishment: Establishment | None, **kwargs) -> StaffUser:
    user = StaffFactory(**kwargs)
    Role.objects.create(user=user, name=role, establishment=establishment)
    return user


def sign_in(client, user, *, second_factor: bool = True):
    """Sign the test client in as ``user``; with a proven second factor unless told not to."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from parloir.access import OTP_SESSION_KEY

    client.force_login(user)
    if second_factor:
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="test", defaults={"confirmed": True}
        )
        session = client.session
        session[OTP_SESSION_KEY] = device.persistent_id
        session.save()
    return client
