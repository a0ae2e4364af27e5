from django.urls import path

from www.console import auth, views

app_name = "console"

urlpatterns = [
    path("", views.index, name="index"),
    path("connexion/", auth.sign_in, name="login"),
    path("connexion/totp/", auth.totp, name="totp"),
    path("deconnexion/", auth.sign_out, name="logout"),
    path("messages/", views.outbox, name="outbox"),
]

# Bookings (www/console/bookings.py).
from www.console import bookings  # noqa: E402

urlpatterns += [
    path("reservations/", bookings.today, name="bookings_today"),
    path("reservations/nouvelle/", bookings.book, name="booking_new"),
    path("reservations/<int:pk>/", bookings.detail, name="booking_detail"),
    path("reservations/<int:pk>/annuler/", bookings.cancel, name="booking_cancel"),
    path("reservations/<int:pk>/absent/", bookings.no_show, name="booking_no_show"),
    path("locaux/<int:pk>/planning/", bookings.room_calendar, name="room_calendar"),
    path("locaux/<int:pk>/feuille/", bookings.room_sheet, name="room_sheet"),
]

# Live calls, people's history, media nodes (www/console/calls.py).
from www.console import calls  # noqa: E402

urlpatterns += [
    path("direct/", calls.live_wall, name="live_wall"),
    path("appels/<int:pk>/", calls.watch, name="call_watch"),
    path("appels/<int:pk>/avertir/", calls.warn, name="call_warn"),
    path("appels/<int:pk>/interrompre/", calls.interrupt, name="call_interrupt"),
    path("detenus/<int:pk>/", calls.detainee, name="detainee"),
    path("detenus/<int:pk>/suspendre/", calls.suspend, name="detainee_suspend"),
    path("suspensions/<int:pk>/lever/", calls.lift, name="suspension_lift"),
    path("contacts/<int:pk>/", calls.contact, name="contact"),
    path("serveurs-video/", calls.media_nodes, name="media_nodes"),
]

# Audit log (www/console/audit.py).
from www.console import audit  # noqa: E402

urlpatterns += [path("audit/", audit.audit_log, name="audit")]

# Recordings: replay, holds, judicial exports, destruction log (www/console/recordings.py).
from www.console import recordings  # noqa: E402

urlpatterns += [
    path("enregistrements/", recordings.recording_list, name="recordings"),
    path("enregistrements/<int:pk>/", recordings.recording_detail, name="recording_detail"),
    path("enregistrements/<int:pk>/lire/", recordings.replay_start, name="recording_replay"),
    path("enregistrements/lecture/<uuid:session_id>/", recordings.player, name="recording_player"),
    path(
        "enregistrements/lecture/<uuid:session_id>/flux",
        recordings.stream,
        name="recording_stream",
    ),
    path("enregistrements/<int:pk>/suspendre/", recordings.hold_place, name="recording_hold"),
    path(
        "enregistrements/suspensions/<int:pk>/lever/",
        recordings.hold_lift,
        name="recording_hold_lift",
    ),
    path("enregistrements/<int:pk>/exporter/", recordings.export_create, name="recording_export"),
    path(
        "enregistrements/exports/<uuid:export_id>/",
        recordings.export_download,
        name="recording_export_download",
    ),
    path("enregistrements/<int:pk>/relancer/", recordings.recording_retry, name="recording_retry"),
    path(
        "enregistrements/destructions/", recordings.destruction_log, name="recording_destructions"
    ),
]
