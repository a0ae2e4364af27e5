from django.urls import path

from www.kiosk import views

app_name = "kiosk"

urlpatterns = [
    path("", views.sign_in, name="sign_in"),
    path("activer", views.activate, name="activate"),
    path("sortie", views.sign_out, name="sign_out"),
    path("accueil", views.home, name="home"),
    path("reserver", views.book, name="book"),
    path("reservations/<int:pk>/annuler", views.cancel_booking, name="cancel_booking"),
    path("appel", views.start_call, name="start_call"),
    path("appel/<int:call_id>", views.call, name="call"),
    path("appel/<int:call_id>/nouveau-code", views.new_code, name="new_code"),
    path("appel/<int:call_id>/fin", views.cancel, name="cancel"),
    path("appel/<int:call_id>/present", views.keep_alive, name="keep_alive"),
]
