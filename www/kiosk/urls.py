from django.urls import path

import parloir.params  # noqa: F401  (registers <id:…>)
from www.kiosk import views

app_name = "kiosk"

urlpatterns = [
    path("", views.sign_in, name="sign_in"),
    path("activer", views.activate, name="activate"),
    path("sortie", views.sign_out, name="sign_out"),
    path("accueil", views.home, name="home"),
    path("reserver", views.book, name="book"),
    path("reservations/<id:pk>/annuler", views.cancel_booking, name="cancel_booking"),
    path("appel", views.start_call, name="start_call"),
    path("appel/<id:call_id>", views.call, name="call"),
    path("appel/<id:call_id>/nouveau-code", views.new_code, name="new_code"),
    path("appel/<id:call_id>/fin", views.cancel, name="cancel"),
    path("appel/<id:call_id>/present", views.keep_alive, name="keep_alive"),
]
