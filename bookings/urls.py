from django.urls import path

from bookings import views

app_name = "bookings"

urlpatterns = [
    path("<str:token>.ics", views.ics, name="ics"),
]
