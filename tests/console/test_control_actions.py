from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import AuditEvent
from calls import actions
from calls.events import end_reason_label
from calls.models import Call
from people.actions import do_lift_suspension, do_suspend
from tests.factories import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_requires_a_warning_before_a_non_urgent_interruption(two_sides):
    a, _b = two_sides
    guard = a.staff["guard"]
    with pytest.raises(ValidationError) as excinfo:
        actions.do_interrupt(
            a.call, category="behaviour", reason="Insultes", urgent=False, staff=guard
        )
    assert excinfo.value.code == "warn_first"
    actions.do_warn(a.call, "Veuillez rester calme.", staff=guard)
    call = actions.do_interrupt(
        a.call, category="behaviour", reason="Insultes répétées", urgent=False, staff=guard
    )
    assert call.state == Call.State.INTERRUPTED
    assert end_reason_label(call) == "Interrompu par l'administration : Comportement"
    actions_logged = set(
        AuditEvent.objects.filter(target_id=str(call.pk)).values_list("action", flat=True)
    )
    assert {"call.warned", "call.interrupted", "call.ended"} <= actions_logged


def test_an_urgent_interruption_needs_no_warning_but_a_reason(two_sides):
    a, _b = two_sides
    guard = a.staff["guard"]
    with pytest.raises(ValidationError):
        actions.do_interrupt(a.call, category="security", reason=" ", urgent=True, staff=guard)
    call = actions.do_interrupt(
        a.call, category="security", reason="Objet interdit", urgent=True, staff=guard
    )
    assert call.state == Call.State.INTERRUPTED


def test_a_suspension_that_starts_during_a_call_ends_it(two_sides):
    a, _b = two_sides
    supervisor = a.staff["supervisor"]
    now = timezone.now()
    suspension = do_suspend(
        a.call.detainee,
        starts_at=now,
        ends_at=now + timedelta(days=7),
        reason="Procédure disciplinaire",
        actor=supervisor,
    )
    a.call.refresh_from_db()
    assert a.call.state == Call.State.INTERRUPTED
    assert a.call.end_reason == "suspended"
    do_lift_suspension(suspension, reason="Appel de la décision accueilli", actor=supervisor)
    suspension.refresh_from_db()
    assert suspension.lifted_at is not None
    logged = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"suspension.decided", "suspension.lifted"} <= logged


def test_a_future_suspension_leaves_the_call_alone(two_sides):
    a, _b = two_sides
    now = timezone.now()
    do_suspend(
        a.call.detainee,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=2),
        reason="Sanction",
        actor=a.staff["supervisor"],
    )
    a.call.refresh_from_db()
    assert a.call.is_open


def test_the_console_forms_warn_interrupt_and_suspend(client, two_sides):
    a, _b = two_sides
    sign_in(client, a.staff["supervisor"])
    client.post(reverse("console:call_warn", args=[a.call.pk]), {"text": "Face à la caméra"})
    assert a.call.warnings.get().text == "Face à la caméra"
    response = client.post(
        reverse("console:call_interrupt", args=[a.call.pk]),
        {"category": "rules", "reason": "Tiers présent hors champ"},
    )
    assert response.status_code == 302
    a.call.refresh_from_db()
    assert a.call.state == Call.State.INTERRUPTED
    client.post(
        reverse("console:detainee_suspend", args=[a.call.detainee_id]),
        {
            "ends_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "Décision n°12",
        },
    )
    assert a.call.detainee.suspensions.get().reason == "Décision n°12"


def test_a_preset_warning_is_kept_in_french_and_sent_with_its_key(two_sides):
    a, _b = two_sides
    guard = a.staff["guard"]
    with translation.override("en"):  # whatever the guard's console language
        warning = actions.do_warn(a.call, preset="objects", staff=guard)
    assert warning.text == "Ne montrez ni objet ni écrit à la caméra."
    logged = AuditEvent.objects.get(action="call.warned", target_id=str(a.call.pk))
    assert logged.data == {"text": warning.text, "preset": "objects"}
    with pytest.raises(ValidationError) as unknown:
        actions.do_warn(a.call, preset="dance", staff=guard)
    assert unknown.value.code == "preset"
    with pytest.raises(ValidationError) as empty:
        actions.do_warn(a.call, "  ", staff=guard)
    assert empty.value.code == "empty"


def test_the_console_offers_the_preset_warnings_and_sends_the_chosen_one(client, two_sides):
    a, _b = two_sides
    sign_in(client, a.staff["supervisor"])
    page = client.get(reverse("console:call_watch", args=[a.call.pk])).content.decode()
    assert 'value="calm"' in page and "Veuillez garder un ton calme." in page
    client.post(reverse("console:call_warn", args=[a.call.pk]), {"preset": "calm", "text": ""})
    assert a.call.warnings.get().text == "Veuillez garder un ton calme."


def test_the_console_tells_which_language_each_side_reads(client, two_sides):
    """A free-text warning goes as typed: staff see whom it may not reach."""
    a, _b = two_sides
    a.call.contact.language = "es"
    a.call.contact.save(update_fields=["language"])
    sign_in(client, a.staff["supervisor"])
    url = reverse("console:call_watch", args=[a.call.pk])
    page = client.get(url).content.decode()
    assert "Le proche lit : Español ; la personne détenue : Français." in page
    # What the relative picked in the portal's menu wins over the recorded preference.
    actions.do_record_consent(
        a.call, "terms", accepted=True, client_ip=None, user_agent="test", language="en"
    )
    page = client.get(url).content.decode()
    assert "Le proche lit : English ; la personne détenue : Français." in page


def test_the_audit_page_searches_and_exports(client, two_sides):
    a, b = two_sides
    actions.do_warn(a.call, "A", staff=a.staff["guard"])
    actions.do_warn(b.call, "B", staff=b.staff["guard"])
    sign_in(client, a.staff["auditor"])
    page = client.get("/console/audit/?action=call.warned").content.decode()
    assert "intègre" in page
    assert page.count("call.warned") >= 1
    exported = client.get("/console/audit/?action=call.warned&export=json").json()
    assert [row["data"] for row in exported] == ['{"text": "A"}']
    csv_text = b"".join(client.get("/console/audit/?export=csv").streaming_content).decode()
    assert csv_text.splitlines()[0].startswith("seq,at,actor_label")
    assert AuditEvent.objects.filter(action="audit.exported").count() == 2
