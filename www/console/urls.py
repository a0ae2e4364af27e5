from django.urls import path

from www.console import views

app_name = "console"

urlpatterns = [
    path("", views.index, name="index"),
    path("messages/", views.outbox, name="outbox"),
]
