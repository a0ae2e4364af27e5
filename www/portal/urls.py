from django.urls import path
from django.views.generic import TemplateView

from www.portal import check, pwa, views

app_name = "portal"

urlpatterns = [
    path("", views.enter_code, name="code"),
    path("j/<str:link_token>", views.enter_code, name="code_link"),
    path("j/<str:link_token>/nouveau-code", views.request_code, name="request_code"),
    path("conditions", views.terms, name="terms"),
    path("surveillance", views.monitoring, name="monitoring"),
    path("appel", views.call, name="call"),
    path("appel/raccrocher", views.hang_up, name="hang_up"),
    path("fin", views.ended, name="ended"),
    path("aide", views.help_index, name="help_index"),
    path("confidentialite", views.privacy_charter, name="privacy"),
    path("confidentialite/<slug:code>", views.privacy_charter, name="privacy_of"),
    path("aide/<slug:code>", views.help_page, name="help"),
    path("verifier", check.check, name="check"),
    path("verifier/echantillon", check.sample, name="check_sample"),
    path(
        "accessibilite",
        TemplateView.as_view(template_name="portal/accessibility.html"),
        name="accessibility",
    ),
    path("hors-ligne", pwa.offline, name="offline"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
]
