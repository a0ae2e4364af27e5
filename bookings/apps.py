from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _reinstall_overlap_guards(sender, using, **kwargs) -> None:
    from django.db import connections

    from bookings.db import install_overlap_guards

    install_overlap_guards(connections[using])


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = _("Réservations")

    def ready(self) -> None:
        post_migrate.connect(_reinstall_overlap_guards, sender=self)

        from bookings import notices
        from notify import hooks

        for purpose in notices.PURPOSES:
            hooks.on_still_wanted(purpose, notices.still_wanted)
