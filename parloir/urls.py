from django.contrib import admin
from django.urls import include, path

from www import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("console/", include("www.console.urls")),
    path("b/", include("bookings.urls")),
    path("kiosk/", include("www.kiosk.urls")),
    path("", include("www.portal.urls")),
]
