from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from ops import views as ops_views
from www import favicon, health
from www.console import auth as console_auth

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("favicon.ico", favicon.favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    # One sign-in for the admin and the console, with the second factor.
    path("admin/login/", RedirectView.as_view(pattern_name="console:login", query_string=True)),
    # POST only, like the console's: the admin's own button posts here.
    path("admin/logout/", console_auth.sign_out),
    path("admin/", admin.site.urls),
    path("console/", include("www.console.urls")),
    path("b/", include("bookings.urls")),
    path("kiosk/", include("www.kiosk.urls")),
    path("notify/", include("notify.urls")),
    path("", include("www.portal.urls")),
]

# Refusals on console pages say which roles may do what was refused (www/console/errors.py).
handler403 = "www.console.errors.forbidden"
# An impossible parameter (parloir.params.BadParameter) answers 400 with its message.
handler400 = "www.errors.bad_request"
