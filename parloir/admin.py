"""Base classes for the staff administration: every admin page goes through parloir.access.

Rights come only from roles, through the capabilities of ``parloir.access``. Django's model
permissions are not used: staff accounts have none. A superuser gets nothing from the flag
either: the admin treats a superuser as a national administrator only if they hold that role,
so that no account can see across establishments without a role that says so.

What the base classes do, so subclasses only declare capabilities and fields:

- the changelist, the object pages and the related-object choices are scoped with
  ``access.scope`` to the establishments where the user holds the capability;
- view, add, change and delete permissions are capabilities (``*_capability``); ``None``
  disables the operation (deletion is off by default: most data is append-only or changes
  status instead);
- a model without ``ESTABLISHMENT_PATH`` is national: only national holders of the
  capability see it, as are rows with no establishment (for instance a national role);
- saving a row whose establishment is out of the user's scope is refused;
- every save runs in a transaction and, when no action of ``people.actions`` covers it,
  is written to the audit log here;
- list filters on relations only offer the values present in the scoped rows, so the
  filter sidebar never names another establishment's rows;
- fields whose model gives no French name get one (``labels``, or for a relation the
  related model's name) in forms, read-only fields, list columns and filters alike.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import display_for_field, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.log import record
from parloir import access
from parloir.access import Can

admin.site.site_header = gettext_lazy("Administration de parloir")
admin.site.site_title = gettext_lazy("parloir")
admin.site.index_title = gettext_lazy("Administration")


class SaveRefused(Exception):
    """An action refused a save that the form had accepted (a concurrent change won)."""

    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


def adopt(obj, saved) -> None:
    """Make the admin's unsaved instance stand for the row an action created.

    The admin keeps using its own instance after ``save_model`` (history, redirect), while
    the actions build and return their own.
    """
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


def error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def field_label(model, name: str, labels: dict):
    """The label of model field ``name`` if its model leaves it to the English field name."""
    if name in labels:
        return labels[name]
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.is_relation and field.verbose_name == name.replace("_", " "):
        return field.related_model._meta.verbose_name
    return None


def field_filter(filter_class, title):
    """A list filter as Django would pick it for the field, under ``title`` if given."""

    def create(field, request, params, model, model_admin, field_path):
        spec = filter_class(field, request, params, model, model_admin, field_path=field_path)
        if title is not None:
            spec.title = title
        return spec

    return create


class ScopedMixin:
    """Permissions and querysets from capabilities, shared by model admins and inlines.

    For an inline, the ``obj`` Django passes to the permission checks is the parent row,
    whose establishment is the inline rows' establishment too.
    """

    # Labels of fields whose models give none (see field_label).
    labels: dict = {}

    view_capability: str | None = Can.VIEW
    add_capability: str | None = None
    change_capability: str | None = None
    delete_capability: str | None = None

    @property
    def write_capability(self) -> str | None:
        return self.add_capability or self.change_capability or self.view_capability

    def is_scoped_model(self) -> bool:
        try:
            access.establishment_path(self.model)
        except LookupError:
            return False
        return True

    def scope_queryset(self, request, qs, capability):
        if capability is None:
            return qs.none()
        if not self.is_scoped_model():
            return qs if access.is_national(request.user, capability) else qs.none()
        return access.scope(qs, request.user, capability)

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request), self.view_capability)

    def establishment_of(self, obj) -> int | None:
        try:
            return access.establishment_of(obj)
        except LookupError:
            return None

    def allowed(self, request, capability: str | None, obj=None) -> bool:
        if capability is None:
            return False
        user = request.user
        if obj is None:
            if self.is_scoped_model():
                return access.has_any(user, capability)
            return access.is_national(user, capability)
        establishment = self.establishment_of(obj)
        if establishment is None:
            return access.is_national(user, capability)
        return access.can(user, capability, establishment)

    def has_module_permission(self, request):
        return self.allowed(request, self.view_capability)

    def has_view_permission(self, request, obj=None):
        return self.allowed(request, self.view_capability, obj)

    def has_add_permission(self, request, obj=None):
        return self.allowed(request, self.add_capability, obj)

    def has_change_permission(self, request, obj=None):
        return self.allowed(request, self.change_capability, obj)

    def has_delete_permission(self, request, obj=None):
        return self.allowed(request, self.delete_capability, obj)

    def field_labels(self) -> dict:
        names = [f.name for f in self.model._meta.get_fields() if f.concrete] + list(self.labels)
        found = {name: field_label(self.model, name, self.labels) for name in names}
        return {name: label for name, label in found.items() if label is not None}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Offer only the rows the user may write to: the form then rejects any other id.
        if "queryset" not in kwargs and self.write_capability is not None:
            related = db_field.related_model
            try:
                kwargs["queryset"] = access.scope(
                    related._default_manager.all(), request.user, self.write_capability
                )
            except LookupError:
                pass  # Not an establishment's row; the subclass scopes it if it must.
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedModelAdmin(ScopedMixin, admin.ModelAdmin):
    view_on_site = False
    save_as = False

    def get_form(self, request, obj=None, **kwargs):
        # Form labels also name the read-only fields (AdminReadonlyField reads them first).
        kwargs.setdefault("labels", self.field_labels())
        return super().get_form(request, obj, **kwargs)

    def get_list_filter(self, request):
        # A relation filter would list every row of the related table (another
        # establishment's names included); RelatedOnlyFieldListFilter lists only the values
        # found in the scoped queryset.
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str):
                fields = get_fields_from_path(self.model, entry)
                owner = fields[-2].related_model if len(fields) > 1 else self.model
                title = field_label(owner, fields[-1].name, self.labels)
                if fields[-1].is_relation:
                    entry = (entry, field_filter(admin.RelatedOnlyFieldListFilter, title))
                elif title is not None:
                    entry = (entry, field_filter(admin.FieldListFilter.create, title))
            filters.append(entry)
        return filters

    def get_list_display(self, request):
        return [
            self.labelled_column(entry) if isinstance(entry, str) else entry
            for entry in super().get_list_display(request)
        ]

    def get_list_select_related(self, request):
        # The labelled columns are callables, which Django does not select_related for.
        if self.list_select_related is not False:
            return self.list_select_related
        names = [entry for entry in super().get_list_display(request) if isinstance(entry, str)]
        return [
            name
            for name in names
            if name in self.field_labels() and self.model._meta.get_field(name).many_to_one
        ] or False

    def labelled_column(self, name):
        label = self.field_labels().get(name)
        if label is None:
            return name
        field = self.model._meta.get_field(name)
        empty = self.get_empty_value_display()

        @admin.display(description=label, ordering=name)
        def column(obj):
            return display_for_field(getattr(obj, name), field, empty)

        column.__name__ = name
        return column

    def check_write_scope(self, request, obj, change: bool) -> None:
        capability = self.change_capability if change else self.add_capability
        if not self.allowed(request, capability, obj):
            raise PermissionDenied

    def save_model(self, request, obj, form, change):
        self.check_write_scope(request, obj, change)
        try:
            with transaction.atomic():
                self.write(request, obj, form, change)
        except ValidationError as error:
            raise SaveRefused(error) from error

    def write(self, request, obj, form, change) -> None:
        """Save a row no action of people.actions covers, and audit it."""
        obj.save()
        self.audit(request, obj, form, change)

    def audit(self, request, obj, form, change, *, skip=()) -> None:
        names = {f.name: f for f in obj._meta.concrete_fields}
        changed = [n for n in form.changed_data if n in names and n not in skip]
        if change and not changed:
            return
        record(
            f"{obj._meta.model_name}.{'changed' if change else 'created'}",
            actor=request.user,
            establishment=self.establishment_of(obj),
            target=obj,
            data={n: getattr(obj, names[n].attname) for n in changed if n != "password"},
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SaveRefused as refused:
            # The transaction of the view has been rolled back: nothing is half-saved.
            messages.error(request, error_text(refused.error))
            return HttpResponseRedirect(request.get_full_path())

    def reasoned_action(self, request, queryset, *, capability, perform, title, done):
        """An admin action that asks for a reason, then applies ``perform(obj, reason)``.

        Every selected row is changed in one transaction: if one is refused (a move the
        workflow does not allow, a right the user lacks), none is.
        """
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            rows = list(queryset)
            if not rows:
                messages.warning(request, _("Aucun élément sélectionné."))
                return None
            try:
                with transaction.atomic():
                    for obj in rows:
                        if not self.allowed(request, capability, obj):
                            raise PermissionDenied(obj)
                        try:
                            perform(obj, form.cleaned_data["reason"])
                        except ValidationError as error:
                            raise SaveRefused(error) from error
            except PermissionDenied:
                messages.error(
                    request, _("Rien n'a été fait : vous n'avez pas ce droit sur « %s ».") % obj
                )
            except SaveRefused as refused:
                messages.error(
                    request,
                    _("Rien n'a été fait : « %(obj)s » : %(error)s")
                    % {"obj": obj, "error": error_text(refused.error)},
                )
            else:
                messages.success(request, done(len(rows)))
            return None
        return TemplateResponse(
            request,
            "admin/parloir/reason_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "objects": queryset,
                "form": form,
                "action": request.POST.get("action", ""),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Obligatoire ; il est inscrit au journal d'audit."),
    )


class ScopedInlineMixin(ScopedMixin):
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        kwargs.setdefault("labels", self.field_labels())
        return super().get_formset(request, obj, **kwargs)


class ScopedTabularInline(ScopedInlineMixin, admin.TabularInline):
    pass


class ScopedStackedInline(ScopedInlineMixin, admin.StackedInline):
    pass


def _unregister_unscoped_third_party_admins() -> None:
    # django_otp registers an admin for every TOTP device of every user: that would let
    # any staff member with admin access see others' second factors. Devices are managed
    # from the console's sign-in instead.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if admin.site.is_registered(TOTPDevice):
        admin.site.unregister(TOTPDevice)


_unregister_unscoped_third_party_admins()
