from django.urls import path

from notify import views

app_name = "notify"
urlpatterns = [
    path("kannel/dlr", views.kannel_dlr, name="kannel_dlr"),
]
