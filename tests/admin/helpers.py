"""What a browser would do with an admin page: read its form, follow its links."""

import re
from html.parser import HTMLParser

from django.contrib import admin

from parloir import access


class _FormReader(HTMLParser):
    """Collects the values a browser would submit from the form with the given id."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.data: dict[str, list[str]] = {}
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            self.found = self.found or self.inside
            return
        if not self.inside or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.setdefault(name, []).append(a.get("value", "on"))
                return
            self.data.setdefault(name, []).append(a.get("value", ""))
        elif tag == "select" and name:
            self._select = (name, "multiple" in a)
            self._options = []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            name, multiple = self._select
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self.data[name] = chosen
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            self.data[self._textarea] = [text[1:] if text.startswith("\n") else text]
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def form_data(response, form_id: str, **overrides) -> dict[str, list[str] | str]:
    """The POST data of an admin form as served, with ``overrides`` applied."""
    reader = _FormReader(form_id)
    reader.feed(response.content.decode())
    assert reader.found, f"no form #{form_id} in the page"
    data: dict[str, list[str] | str] = dict(reader.data)
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def change_form_id(model) -> str:
    return f"{model._meta.model_name}_form"


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_base(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def model_urls(model_admin) -> list[str]:
    """Routes of the model's admin that take no object: changelist, add, custom ones."""
    return [
        admin_base(model_admin.model) + str(p.pattern)
        for p in model_admin.get_urls()
        if "<" not in str(p.pattern)
    ]


def object_urls(model_admin, obj) -> list[str]:
    """Every route of the model's admin that takes an object id, for ``obj``."""
    return [
        admin_base(model_admin.model) + re.sub(r"<[^>]+>", str(obj.pk), str(p.pattern))
        for p in model_admin.get_urls()
        if "<" in str(p.pattern)
    ]


def rows_of(model, establishment):
    """The rows of ``model`` that belong to ``establishment``."""
    if model._meta.label == "people.StaffUser":
        return model.objects.filter(roles__establishment=establishment).distinct()
    path = access.establishment_path(model)
    return model._default_manager.filter(**{path or "pk": establishment.pk})


def national_rows(model):
    """Rows that belong to no establishment (a national role, a national audit event)."""
    if model._meta.label == "people.StaffUser":
        return model.objects.filter(roles__establishment__isnull=True)
    path = access.establishment_path(model)
    if not path:
        return model._default_manager.none()
    return model._default_manager.filter(**{f"{path}__isnull": True})


def submit(client, url, form_id, **values):
    """GET an admin form, then POST it back as a browser would, with ``values`` changed."""
    page = client.get(url)
    assert page.status_code == 200, url
    return client.post(url, form_data(page, form_id, **values))


def add(client, model, **values):
    return submit(client, admin_base(model) + "add/", change_form_id(model), **values)


def change(client, obj, **values):
    url = f"{admin_base(type(obj))}{obj.pk}/change/"
    return submit(client, url, change_form_id(type(obj)), **values)


def errors_of(response, field):
    assert response.status_code == 200, "the form was accepted"
    return list(response.context["adminform"].form.errors.get(field, []))
