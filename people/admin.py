"""Staff administration of people. Every write goes through people.actions, which audits."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.log import record
from parloir import access
from parloir.access import Can
from parloir.admin import (
    SaveRefused,
    ScopedModelAdmin,
    ScopedStackedInline,
    ScopedTabularInline,
    adopt,
)
from people.actions import (
    do_change_detainee_status,
    do_decide_contact,
    do_grant_role,
    do_lift_suspension,
    do_move_detainee,
    do_open_account,
    do_post_ledger,
    do_request_contact,
    do_reset_second_factor,
    do_revoke_role,
    do_set_pin,
    do_suspend,
)
from people.forms import (
    ContactRequestForm,
    LedgerEntryForm,
    PhoneAccountChangeForm,
    PhoneAccountOpenForm,
    StaffChangeForm,
    StaffCreationForm,
    SuspensionForm,
    role_choices,
)
from people.models import (
    AuthorizedContact,
    ContactDecision,
    Detainee,
    LedgerEntry,
    PhoneAccount,
    Role,
    StaffUser,
    Suspension,
)

# Rights come from roles; groups and Django permissions would be a second, unscoped system.
admin.site.unregister(Group)


def format_cents(cents: int) -> str:
    return f"{formats.number_format(cents / 100, 2, use_l10n=True)} €"


def updated_message(count: int) -> str:
    return ngettext("%(count)d élément mis à jour.", "%(count)d éléments mis à jour.", count) % {
        "count": count
    }


# Detainees and their phone accounts

ACCOUNT_LABELS = {
    "failed_pin_attempts": _("codes PIN erronés"),
    "locked_until": _("bloqué jusqu'au"),
}


class PhoneAccountInline(ScopedStackedInline):
    model = PhoneAccount
    labels = ACCOUNT_LABELS
    fields = ("account", "active", "balance", "failed_pin_attempts", "locked_until")
    readonly_fields = fields
    can_delete = False

    @admin.display(description=_("compte"))
    def account(self, obj):
        url = reverse("admin:people_phoneaccount_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Gérer le compte"))

    @admin.display(description=_("solde"))
    def balance(self, obj):
        return format_cents(obj.balance_cents())


@admin.register(Detainee)
class DetaineeAdmin(ScopedModelAdmin):
    add_capability = Can.MANAGE_DETAINEES
    change_capability = Can.MANAGE_DETAINEES
    list_display = ("__str__", "establishment", "quarter", "status")
    list_filter = ("status", "establishment", "quarter")
    search_fields = ("last_name", "first_name", "prison_number")
    inlines = [PhoneAccountInline]

    def get_fields(self, request, obj=None):
        fields = ("establishment", "quarter", "prison_number", "last_name", "first_name")
        if obj is None:
            return (*fields, "language")
        return (*fields, "language", "status", "status_changed_at")

    def get_readonly_fields(self, request, obj=None):
        # A transfer is a status change here and a new record in the other establishment.
        return ("establishment", "status_changed_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def write(self, request, obj, form, change):
        # A new quarter or status goes through its action, which takes care of the
        # bookings that can no longer take place.
        through_actions = {"status", "quarter"} & set(form.changed_data) if change else set()
        if not through_actions:
            return super().write(request, obj, form, change)
        status, quarter = obj.status, obj.quarter
        obj.status, obj.quarter_id = form.initial["status"], form.initial["quarter"]
        obj.save()
        self.audit(request, obj, form, change, skip=through_actions)
        if "quarter" in through_actions:
            obj.quarter = do_move_detainee(obj, quarter, actor=request.user).quarter
        if "status" in through_actions:
            updated = do_change_detainee_status(obj, status, actor=request.user)
            obj.status, obj.status_changed_at = updated.status, updated.status_changed_at


class LedgerEntryInline(ScopedTabularInline):
    """Add-only: an entry is never edited nor deleted; a correction is a new entry."""

    model = LedgerEntry
    form = LedgerEntryForm
    labels = {"created_at": _("date"), "created_by": _("saisie par")}
    add_capability = Can.MANAGE_DETAINEES
    fields = ("created_at", "amount_cents", "kind", "label", "created_by")
    readonly_fields = ("created_at", "created_by")
    can_delete = False
    extra = 1


@admin.register(PhoneAccount)
class PhoneAccountAdmin(ScopedModelAdmin):
    add_capability = Can.MANAGE_DETAINEES
    change_capability = Can.MANAGE_DETAINEES
    labels = ACCOUNT_LABELS
    list_display = ("detainee", "active", "balance", "locked_until")
    list_filter = ("active", "detainee__establishment")
    search_fields = ("detainee__last_name", "detainee__first_name", "detainee__prison_number")
    readonly_fields = ("balance", "failed_pin_attempts", "locked_until")
    inlines = [LedgerEntryInline]

    @admin.display(description=_("solde"))
    def balance(self, obj):
        return format_cents(obj.balance_cents())

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = PhoneAccountOpenForm if obj is None else PhoneAccountChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("detainee", "pin")
        if self.has_change_permission(request, obj):
            return ("detainee", "active", "new_pin", *self.readonly_fields)
        return ("detainee", "active", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return ("detainee", *self.readonly_fields) if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "detainee":
            kwargs["queryset"] = access.scope(
                Detainee.objects.filter(account__isnull=True), request.user, self.add_capability
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def write(self, request, obj, form, change):
        if not change:
            pin = form.cleaned_data["pin"]
            adopt(obj, do_open_account(obj.detainee, pin, actor=request.user))
            return
        if "active" in form.changed_data:
            obj.save(update_fields=["active"])
            self.audit(request, obj, form, change)
        if form.cleaned_data.get("new_pin"):
            do_set_pin(obj, form.cleaned_data["new_pin"], actor=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is not LedgerEntry:
            return super().save_formset(request, form, formset, change)
        # The admin's change message reads these lists, which formset.save() would fill.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            with transaction.atomic():
                for entry in formset.extra_forms:
                    if not entry.has_changed():
                        continue
                    data = entry.cleaned_data
                    formset.new_objects.append(
                        do_post_ledger(
                            form.instance,
                            data["amount_cents"],
                            data["kind"],
                            data["label"],
                            actor=request.user,
                        )
                    )
        except ValidationError as error:
            raise SaveRefused(error) from error


# Contacts


class ContactDecisionInline(ScopedTabularInline):
    model = ContactDecision
    labels = {
        "from_status": _("ancien statut"),
        "to_status": _("nouveau statut"),
        "decided_by": _("décidée par"),
        "decided_at": _("décidée le"),
    }
    fields = ("decided_at", "from_status", "to_status", "decided_by", "reason")
    readonly_fields = fields
    can_delete = False


@admin.register(AuthorizedContact)
class AuthorizedContactAdmin(ScopedModelAdmin):
    """Contacts are requested here and then only move along their workflow, with a reason."""

    add_capability = Can.MANAGE_DETAINEES
    list_display = ("__str__", "detainee", "relationship", "line_type", "status", "requested_at")
    list_filter = ("status", "relationship", "line_type", "detainee__establishment")
    search_fields = (
        "last_name",
        "first_name",
        "phone_number",
        "detainee__last_name",
        "detainee__prison_number",
    )
    actions = ["approve", "refuse", "revoke"]
    inlines = [ContactDecisionInline]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("detainee", "last_name", "first_name", "phone", "relationship", "language")
        return (
            "detainee",
            "last_name",
            "first_name",
            "phone_number",
            "line_type",
            "relationship",
            "language",
            "status",
            "requested_at",
        )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ContactRequestForm
        return super().get_form(request, obj, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def write(self, request, obj, form, change):
        data = form.cleaned_data
        contact = do_request_contact(
            data["detainee"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            phone=data["phone"],
            relationship=data["relationship"],
            language=data["language"],
            actor=request.user,
        )
        adopt(obj, contact)

    def has_decide_permission(self, request):
        return access.has_any(request.user, Can.DECIDE_CONTACTS)

    def decide(self, request, queryset, to_status, title):
        return self.reasoned_action(
            request,
            queryset,
            capability=Can.DECIDE_CONTACTS,
            perform=lambda contact, reason: do_decide_contact(
                contact, to_status, reason=reason, actor=request.user
            ),
            title=title,
            done=updated_message,
        )

    @admin.action(permissions=["decide"], description=_("Autoriser les contacts sélectionnés"))
    def approve(self, request, queryset):
        status = AuthorizedContact.Status.APPROVED
        return self.decide(request, queryset, status, _("Autoriser des contacts"))

    @admin.action(permissions=["decide"], description=_("Refuser les contacts sélectionnés"))
    def refuse(self, request, queryset):
        status = AuthorizedContact.Status.REFUSED
        return self.decide(request, queryset, status, _("Refuser des contacts"))

    @admin.action(permissions=["decide"], description=_("Révoquer les contacts sélectionnés"))
    def revoke(self, request, queryset):
        status = AuthorizedContact.Status.REVOKED
        return self.decide(request, queryset, status, _("Révoquer des contacts"))


# Suspensions


@admin.register(Suspension)
class SuspensionAdmin(ScopedModelAdmin):
    """Suspensions are decided here and lifted with a reason, never edited nor deleted."""

    add_capability = Can.SUSPEND
    form = SuspensionForm
    labels = {
        "decided_by": _("décidée par"),
        "decided_at": _("décidée le"),
        "lifted_by": _("levée par"),
    }
    list_display = ("detainee", "starts_at", "ends_at", "lifted_at")
    list_filter = ("detainee__establishment",)
    search_fields = ("detainee__last_name", "detainee__prison_number")
    date_hierarchy = "starts_at"
    readonly_fields = ("decided_by", "decided_at", "lifted_at", "lifted_by", "lift_reason")
    actions = ["lift"]

    def get_fields(self, request, obj=None):
        fields = ("detainee", "starts_at", "ends_at", "reason")
        return fields if obj is None else (*fields, *self.readonly_fields)

    def write(self, request, obj, form, change):
        data = form.cleaned_data
        suspension = do_suspend(
            data["detainee"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
            actor=request.user,
        )
        adopt(obj, suspension)

    def has_suspend_permission(self, request):
        return access.has_any(request.user, Can.SUSPEND)

    @admin.action(permissions=["suspend"], description=_("Lever les suspensions sélectionnées"))
    def lift(self, request, queryset):
        return self.reasoned_action(
            request,
            queryset,
            capability=Can.SUSPEND,
            perform=lambda suspension, reason: do_lift_suspension(
                suspension, reason=reason, actor=request.user
            ),
            title=_("Lever des suspensions"),
            done=updated_message,
        )


# Staff and roles


def staff_in_scope(user, capability: str):
    """Staff holding a role in an establishment where ``user`` has ``capability``."""
    qs = StaffUser.objects.all()
    if access.is_national(user, capability):
        return qs
    roles = access.scope(Role.objects.all(), user, capability)
    return qs.filter(pk__in=roles.values("user"))


class RoleInline(ScopedTabularInline):
    """The user's roles in the viewer's establishments; granted and revoked under Roles."""

    model = Role
    view_capability = Can.MANAGE_STAFF
    fields = ("name", "establishment", "granted_at")
    readonly_fields = fields
    can_delete = False

    def has_view_permission(self, request, obj=None):
        # The parent is a staff user, who belongs to no single establishment: the rows
        # themselves are scoped by get_queryset.
        return access.has_any(request.user, self.view_capability)


@admin.register(StaffUser)
class StaffUserAdmin(ScopedModelAdmin, UserAdmin):
    """Staff accounts. A director sees the staff of their establishments and may change an
    account only if all its roles are there, so that no director can lock out or take over
    a colleague of another establishment (nor a national administrator).
    """

    view_capability = Can.MANAGE_STAFF
    add_capability = Can.MANAGE_STAFF
    change_capability = Can.MANAGE_STAFF
    form = StaffChangeForm
    add_form = StaffCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Identité"), {"fields": ("first_name", "last_name", "email")}),
        (_("Statut"), {"fields": ("is_active", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (_("Identité"), {"fields": ("first_name", "last_name", "email")}),
        (_("Premier rôle"), {"fields": ("role", "establishment")}),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("username", "last_name", "first_name", "email", "is_active")
    list_filter = ("is_active",)
    search_fields = ("username", "first_name", "last_name", "email")
    filter_horizontal = ()
    inlines = [RoleInline]

    actions = ["reset_second_factor"]

    def is_scoped_model(self):
        return True  # through the roles; see scope_queryset

    def scope_queryset(self, request, qs, capability):
        return qs.filter(pk__in=staff_in_scope(request.user, capability).values("pk"))

    def has_reset_second_factor_permission(self, request):
        return access.has_any(request.user, Can.MANAGE_STAFF)

    @admin.action(
        permissions=["reset_second_factor"],
        description=_("Réinitialiser le second facteur (téléphone perdu)"),
    )
    def reset_second_factor(self, request, queryset):
        return self.reasoned_action(
            request,
            queryset,
            capability=Can.MANAGE_STAFF,
            perform=lambda user, reason: do_reset_second_factor(
                user, reason=reason, actor=request.user
            ),
            title=_("Réinitialiser le second facteur"),
            done=lambda count: (
                ngettext(
                    "%(count)d second facteur réinitialisé.",
                    "%(count)d seconds facteurs réinitialisés.",
                    count,
                )
                % {"count": count}
            ),
        )

    def establishment_of(self, obj):
        """The one establishment where the account holds its roles, for the audit log."""
        held = set(obj.roles.values_list("establishment_id", flat=True))
        return held.pop() if len(held) == 1 else None

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return access.has_any(request.user, self.view_capability)
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def allowed(self, request, capability, obj=None):
        if capability is None:
            return False
        user = request.user
        if obj is None or obj.pk is None:
            # A new account gets its first role from the form, in the user's scope.
            return access.has_any(user, capability)
        if access.is_national(user, capability):
            return True
        held = set(obj.roles.values_list("establishment_id", flat=True))
        return bool(held) and held <= access.establishment_ids(user, capability)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user  # get_form builds a new class per request
        return form

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def write(self, request, obj, form, change):
        if change:
            return super().write(request, obj, form, change)
        obj.is_staff = True
        obj.save()
        data = form.cleaned_data
        do_grant_role(obj, data["role"], data["establishment"], actor=request.user)
        self.audit(request, obj, form, change)

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        match = request.resolver_match
        if match is not None and match.url_name == "auth_user_password_change":
            record(
                "staffuser.password_set",
                actor=request.user,
                establishment=self.establishment_of(obj),
                target=obj,
            )
        return super().log_change(request, obj, message)


@admin.register(Role)
class RoleAdmin(ScopedModelAdmin):
    """Roles are granted and revoked (deleted), never edited."""

    view_capability = Can.MANAGE_STAFF
    add_capability = Can.MANAGE_STAFF
    delete_capability = Can.MANAGE_STAFF
    list_display = ("user", "name", "establishment", "granted_at")
    list_filter = ("name", "establishment")
    search_fields = ("user__username", "user__last_name", "user__first_name")
    readonly_fields = ("granted_at",)

    def get_fields(self, request, obj=None):
        fields = ("user", "name", "establishment")
        return fields if obj is None else (*fields, "granted_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = staff_in_scope(request.user, self.add_capability)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "name":
            kwargs["choices"] = role_choices(request.user, blank=True)
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def write(self, request, obj, form, change):
        adopt(obj, do_grant_role(obj.user, obj.name, obj.establishment, actor=request.user))

    def delete_model(self, request, obj):
        with transaction.atomic():
            do_revoke_role(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for role in queryset:
                if not self.has_delete_permission(request, role):
                    raise PermissionDenied
                do_revoke_role(role, actor=request.user)
