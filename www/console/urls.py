from django.urls import path

import parloir.params  # noqa: F401  (registers <id:…>)
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
    path("reservations/<id:pk>/", bookings.detail, name="booking_detail"),
    path("reservations/<id:pk>/annuler/", bookings.cancel, name="booking_cancel"),
    path("reservations/<id:pk>/absent/", bookings.no_show, name="booking_no_show"),
    path("locaux/<id:pk>/planning/", bookings.room_calendar, name="room_calendar"),
    path("locaux/<id:pk>/feuille/", bookings.room_sheet, name="room_sheet"),
]

# Live calls, people's history, media nodes (www/console/calls.py).
from www.console import calls  # noqa: E402

urlpatterns += [
    path("direct/", calls.live_wall, name="live_wall"),
    path("appels/<id:pk>/", calls.watch, name="call_watch"),
    path("appels/<id:pk>/avertir/", calls.warn, name="call_warn"),
    path("appels/<id:pk>/interrompre/", calls.interrupt, name="call_interrupt"),
    path(
        "appels/<id:pk>/proches/<int:position>/retirer/",
        calls.remove_relative,
        name="call_remove_relative",
    ),
    path("detenus/<id:pk>/", calls.detainee, name="detainee"),
    path("detenus/<id:pk>/suspendre/", calls.suspend, name="detainee_suspend"),
    path("suspensions/<id:pk>/lever/", calls.lift, name="suspension_lift"),
    path("contacts/<id:pk>/", calls.contact, name="contact"),
    path("serveurs-video/", calls.media_nodes, name="media_nodes"),
]

# Audit log (www/console/audit.py).
from www.console import audit  # noqa: E402

urlpatterns += [path("audit/", audit.audit_log, name="audit")]

# Recordings: replay, holds, judicial exports, destruction log (www/console/recordings.py).
from www.console import recordings  # noqa: E402

urlpatterns += [
    path("enregistrements/", recordings.recording_list, name="recordings"),
    path("enregistrements/<id:pk>/", recordings.recording_detail, name="recording_detail"),
    path("enregistrements/<id:pk>/lire/", recordings.replay_start, name="recording_replay"),
    path("enregistrements/lecture/<uuid:session_id>/", recordings.player, name="recording_player"),
    path(
        "enregistrements/lecture/<uuid:session_id>/flux",
        recordings.stream,
        name="recording_stream",
    ),
    path("enregistrements/<id:pk>/suspendre/", recordings.hold_place, name="recording_hold"),
    path(
        "enregistrements/suspensions/<id:pk>/lever/",
        recordings.hold_lift,
        name="recording_hold_lift",
    ),
    path("enregistrements/<id:pk>/exporter/", recordings.export_create, name="recording_export"),
    path(
        "enregistrements/exports/<uuid:export_id>/",
        recordings.export_download,
        name="recording_export_download",
    ),
    path("enregistrements/<id:pk>/relancer/", recordings.recording_retry, name="recording_retry"),
    path(
        "enregistrements/destructions/", recordings.destruction_log, name="recording_destructions"
    ),
]

# Statistics for the administration (www/console/stats.py).
from www.console import stats  # noqa: E402

urlpatterns += [
    path("statistiques/", stats.statistics, name="statistics"),
    path("statistiques/export.csv", stats.statistics_csv, name="statistics_csv"),
]
# The right of access (www/console/privacy.py).
from www.console import privacy  # noqa: E402

urlpatterns += [path("donnees-personnelles/", privacy.access_export, name="privacy_access")]
