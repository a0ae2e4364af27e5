from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from bookings.models import Booking
from establishments.actions import do_register_kiosk, do_revoke_kiosk
from establishments.models import Establishment, KioskDevice, Quarter, VideoRoom
from parloir import access
from parloir.access import Can
from parloir.admin import ScopedModelAdmin, adopt

IDENTITY_FIELDS = ("name", "code", "address", "time_zone")


@admin.register(Establishment)
class EstablishmentAdmin(ScopedModelAdmin):
    add_capability = Can.MANAGE_ESTABLISHMENT
    change_capability = Can.MANAGE_ESTABLISHMENT
    list_display = ("name", "code", "time_zone", "call_minutes", "price_per_minute_cents")
    search_fields = ("name", "code")
    fieldsets = (
        (None, {"fields": IDENTITY_FIELDS}),
        (
            _("Contact pour les proches"),
            {"fields": ("contact_phone", "contact_hours", "contact_address", "contact_email")},
        ),
        (
            _("Politique d'appel"),
            {
                "fields": (
                    "call_minutes",
                    "code_validity_minutes",
                    "recording_retention_days",
                    "price_per_minute_cents",
                    "charge_per_relative",
                    "max_relatives_per_call",
                )
            },
        ),
        (
            _("Conservation des données personnelles"),
            {
                "fields": (
                    "call_data_retention_days",
                    "message_retention_days",
                    "contact_retention_days",
                    "detainee_retention_days",
                ),
                "description": _("Dans les limites du registre (docs/privacy.md)."),
            },
        ),
    )

    def has_add_permission(self, request, obj=None):
        # A new establishment is in nobody's scope yet: only national administrators create.
        return access.is_national(request.user, Can.MANAGE_ESTABLISHMENT)

    def get_readonly_fields(self, request, obj=None):
        # A director runs the establishment's policy and contact details, not its identity.
        if obj is not None and not access.is_national(request.user, Can.MANAGE_ESTABLISHMENT):
            return IDENTITY_FIELDS
        return ()


class EstablishmentPartAdmin(ScopedModelAdmin):
    add_capability = Can.MANAGE_ESTABLISHMENT
    change_capability = Can.MANAGE_ESTABLISHMENT


@admin.register(Quarter)
class QuarterAdmin(EstablishmentPartAdmin):
    list_display = ("code", "name", "kind", "establishment")
    list_filter = ("kind", "establishment")
    search_fields = ("code", "name")
    fields = ("establishment", "code", "name", "kind", "address", "phone")

    def get_readonly_fields(self, request, obj=None):
        # Moving a quarter would move its detainees to another establishment silently.
        return ("establishment",) if obj is not None else ()


class VideoRoomForm(forms.ModelForm):
    def clean_for_lawyers(self):
        for_lawyers = self.cleaned_data["for_lawyers"]
        room = self.instance
        # Bookings to come were made for the room as it is: a lawyer's in a lawyers' room,
        # a relative's in a family one. Flipping the flag under them would put relatives in
        # an unrecorded room, or leave lawyers' bookings in one that is not theirs.
        if (
            room.pk is not None
            and "for_lawyers" in self.changed_data
            and room.bookings.filter(
                status=Booking.Status.BOOKED, ends_at__gt=timezone.now()
            ).exists()
        ):
            raise ValidationError(
                _(
                    "Ce local a encore des réservations à venir : annulez-les ou attendez "
                    "qu'elles soient passées avant de changer « réservé aux avocats »."
                ),
                code="bookings_to_come",
            )
        return for_lawyers


@admin.register(VideoRoom)
class VideoRoomAdmin(EstablishmentPartAdmin):
    form = VideoRoomForm
    list_display = ("name", "quarter", "in_service", "for_lawyers")
    list_filter = ("in_service", "for_lawyers", "quarter__establishment")
    search_fields = ("name",)
    fields = ("quarter", "name", "in_service", "out_of_service_reason", "for_lawyers")

    def get_readonly_fields(self, request, obj=None):
        # A room's calls, bookings and recordings belong to its quarter's establishment:
        # moving the room would hand its whole history to another establishment.
        return ("quarter",) if obj is not None else ()


@admin.register(KioskDevice)
class KioskDeviceAdmin(ScopedModelAdmin):
    """Kiosks are registered and revoked through establishments.actions, never edited.

    The credential is shown once, on the page that follows the registration; only its
    prefix and hash are kept.
    """

    add_capability = Can.MANAGE_ESTABLISHMENT
    labels = {"credential_prefix": _("préfixe de l'identifiant")}
    list_display = ("label", "room", "credential_prefix", "authorized_at", "revoked_at")
    list_filter = ("room__quarter__establishment",)
    search_fields = ("label", "credential_prefix")
    readonly_fields = ("credential_prefix", "authorized_at", "revoked_at", "last_seen_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ("room", "label") if obj is None else ("room", "label", *self.readonly_fields)

    def write(self, request, obj, form, change):
        device, credential = do_register_kiosk(obj.room, obj.label, actor=request.user)
        adopt(obj, device)
        obj.issued_credential = credential

    def response_add(self, request, obj, post_url_continue=None):
        response = TemplateResponse(
            request,
            "admin/parloir/kiosk_credential.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Borne enregistrée"),
                "opts": self.opts,
                "device": obj,
                "credential": obj.issued_credential,
            },
        )
        add_never_cache_headers(response)
        return response

    def has_revoke_permission(self, request):
        return access.has_any(request.user, Can.MANAGE_ESTABLISHMENT)

    @admin.action(permissions=["revoke"], description=_("Révoquer les bornes sélectionnées"))
    def revoke(self, request, queryset):
        def perform(device, reason):
            if device.revoked_at is not None:
                raise ValidationError(_("Cette borne est déjà révoquée."))
            do_revoke_kiosk(device, reason=reason, actor=request.user)

        return self.reasoned_action(
            request,
            queryset,
            capability=Can.MANAGE_ESTABLISHMENT,
            perform=perform,
            title=_("Révoquer des bornes"),
            done=lambda count: (
                ngettext("%(count)d borne révoquée.", "%(count)d bornes révoquées.", count)
                % {"count": count}
            ),
        )
