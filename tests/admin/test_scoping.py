"""A staff member of establishment A never reads nor changes B's data, on any admin URL.

The URLs are enumerated from the admin's registry, so a newly registered model is covered
without touching this file (its fixture rows in B excepted: the test says so if missing).
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.forms import ModelChoiceField

from audit.models import AuditEvent
from parloir.admin import ScopedModelAdmin
from tests.admin.conftest import ESTABLISHMENT_ROLES
from tests.admin.helpers import (
    admin_base,
    form_data,
    model_urls,
    national_rows,
    object_urls,
    registered,
    rows_of,
)

A_STAFF = [*ESTABLISHMENT_ROLES, "nobody", "superuser"]
ROWS_PER_MODEL = 2


def a_user(world, who):
    return {"nobody": world.nobody, "superuser": world.superuser}.get(who) or world.a.staff[who]


def assert_shows_nothing_of(site, response, url):
    text = response.content.decode().lower()
    for marker in site.markers:
        assert marker.lower() not in text, f"{url} shows {marker!r}"


def foreign_rows(world, model):
    """B's rows (a few) and national rows, all out of reach of A's staff."""
    rows = list(rows_of(model, world.b.establishment).order_by("pk")[:ROWS_PER_MODEL])
    assert rows, (
        f"No {model._meta.label} row in establishment B: add one to tests/admin/conftest.py "
        "so that its admin URLs are tested"
    )
    return rows + list(national_rows(model).order_by("pk")[:1])


def snapshot(world):
    """Every row of B and every national row of every registered model, and table sizes."""
    state = {}
    for model, _model_admin in registered():
        state[model._meta.label] = (
            model._default_manager.count(),
            list(rows_of(model, world.b.establishment).order_by("pk").values()),
            list(national_rows(model).order_by("pk").values()),
        )
    return state


def test_it_scopes_every_registered_admin():
    for model, model_admin in registered():
        assert isinstance(model_admin, ScopedModelAdmin), f"{model} is not scoped"
        for inline in model_admin.inlines:
            assert issubclass(inline, ScopedModelAdmin.__mro__[1]), f"{inline} is not scoped"


@pytest.mark.parametrize("who", A_STAFF)
def test_it_never_lists_b_data(world, as_user, who):
    client = as_user(a_user(world, who))
    app_labels = {model._meta.app_label for model, _ in registered()}
    urls = ["/admin/", *(f"/admin/{label}/" for label in sorted(app_labels))]
    for _model, model_admin in registered():
        urls += model_urls(model_admin)
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403, 404), url
        assert_shows_nothing_of(world.b, response, url)


@pytest.mark.parametrize("who", A_STAFF)
def test_it_never_opens_b_objects(world, as_user, who):
    client = as_user(a_user(world, who))
    for model, model_admin in registered():
        for obj in foreign_rows(world, model):
            page_prefix = f"{admin_base(model)}{obj.pk}/"
            shortcut = f"/admin/r/{ContentType.objects.get_for_model(model).pk}/{obj.pk}/"
            for url in [*object_urls(model_admin, obj), shortcut]:
                response = client.get(url, follow=True)
                assert response.status_code in (200, 403, 404), url
                if response.status_code == 200:
                    # A page served is one redirected to, away from the object (the index).
                    assert not response.request["PATH_INFO"].startswith(page_prefix), url
                assert_shows_nothing_of(world.b, response, url)


@pytest.mark.parametrize("who", ["director", "guard"])
def test_it_never_completes_with_b_rows(world, as_user, who):
    """The admin's autocomplete endpoint, asked for any relation, gives nothing of B.

    Django answers it for every relation to a registered model with search fields, from
    that model's admin queryset: the scoped one.
    """
    client = as_user(a_user(world, who))
    answered = 0
    for model, _model_admin in registered():
        for field in model._meta.get_fields():
            if not (field.is_relation and field.many_to_one):
                continue
            response = client.get(
                "/admin/autocomplete/",
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field.name,
                    "term": "Bravo",
                },
            )
            assert response.status_code in (200, 403, 404), (model, field.name)
            assert_shows_nothing_of(world.b, response, "/admin/autocomplete/")
            answered += response.status_code == 200
    assert answered
    own = client.get(
        "/admin/autocomplete/",
        {"app_label": "people", "model_name": "detainee", "field_name": "establishment"},
    )
    assert [r["text"] for r in own.json()["results"]] == ["Centre pénitentiaire Alpha"]


@pytest.mark.parametrize("who", A_STAFF)
def test_it_never_changes_b_objects(world, as_user, who):
    client = as_user(a_user(world, who))
    before = snapshot(world)
    audit_rows, history_rows = AuditEvent.objects.count(), LogEntry.objects.count()
    for model, model_admin in registered():
        rows = foreign_rows(world, model)
        for obj in rows:
            for url in object_urls(model_admin, obj):
                response = client.post(url, {"post": "yes", "reason": "Tentative"})
                assert response.status_code in (302, 403, 404), url
                assert_shows_nothing_of(world.b, response, url)
        actions = [*(model_admin.actions or []), *(name for name, _ in admin.site.actions)]
        for action in actions:
            response = client.post(
                admin_base(model),
                {
                    "action": action,
                    "index": "0",
                    helpers.ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in rows],
                    "apply": "yes",
                    "post": "yes",
                    "reason": "Tentative",
                },
            )
            assert response.status_code in (200, 302, 403), (model, action)
            assert_shows_nothing_of(world.b, response, admin_base(model))
    assert snapshot(world) == before
    assert AuditEvent.objects.count() == audit_rows
    assert LogEntry.objects.count() == history_rows


@pytest.mark.parametrize("who", ["director", "supervisor"])
def test_it_refuses_b_rows_in_every_add_form(world, as_user, who):
    """Every relation offered on an add form refuses B's rows, even if typed in by hand."""
    client = as_user(world.a.staff[who])
    before = snapshot(world)
    tried = 0
    for model, _model_admin in registered():
        url = admin_base(model) + "add/"
        page = client.get(url)
        if page.status_code == 403:
            continue
        form = page.context["adminform"].form
        for name, field in form.fields.items():
            if not isinstance(field, ModelChoiceField):
                continue
            related = field.queryset.model
            foreign = rows_of(related, world.b.establishment).first()
            data = form_data(page, f"{model._meta.model_name}_form", **{name: str(foreign.pk)})
            response = client.post(url, data)
            assert response.status_code == 200, (url, name)
            assert name in response.context["adminform"].form.errors, (url, name)
            assert_shows_nothing_of(world.b, response, url)
            tried += 1
    assert tried >= 5
    assert snapshot(world) == before


def test_it_lets_a_national_administrator_see_both(world, as_user):
    client = as_user(world.national)
    for site in (world.a, world.b):
        for model, obj in site.objects().items():
            response = client.get(f"{admin_base(model)}{obj.pk}/change/")
            assert response.status_code == 200, model


def test_it_gives_a_superuser_without_role_nothing(world, as_user):
    client = as_user(world.superuser)
    assert client.get("/admin/").context["app_list"] == []
    for model, _ in registered():
        assert client.get(admin_base(model)).status_code == 403, model


def test_it_knows_every_app_with_registered_models():
    # Guards the enumeration itself: a registry read wrongly would make the tests above vacuous.
    labels = {model._meta.label for model, _ in registered()}
    assert {"people.Detainee", "audit.AuditEvent", "notify.Message"} <= labels
    assert all(apps.is_installed(apps.get_app_config(label.split(".")[0]).name) for label in labels)


def test_it_sends_anonymous_visitors_to_sign_in(client, world):
    for model, model_admin in registered():
        obj = world.a.objects()[model]
        for url in [*model_urls(model_admin), *object_urls(model_admin, obj)]:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url
