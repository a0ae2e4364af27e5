from django.urls import path

from www.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.enter_code, name="code"),
    path("j/<str:link_token>", views.enter_code, name="code_link"),
    path("conditions", views.terms, name="terms"),
    path("surveillance", views.monitoring, name="monitoring"),
    path("appel", views.call, name="call"),
    path("fin", views.ended, name="ended"),
    path("aide", views.help_index, name="help_index"),
    path("aide/<slug:code>", views.help_page, name="help"),
]
