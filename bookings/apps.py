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

        from bookings import listeners, notices
        from notify import hooks as notify_hooks
        from people import hooks as people_hooks

        for purpose in notices.PURPOSES:
            notify_hooks.on_still_wanted(purpose, notices.still_wanted)
        # Registered before calls' (INSTALLED_APPS order): the bookings are cancelled, and
        # their early-opened calls ended, before calls ends the rest.
        people_hooks.on_contact_revoked(listeners.contact_revoked)
        people_hooks.on_suspension_decided(listeners.suspension_decided)
        people_hooks.on_detainee_left(listeners.detainee_left)
        people_hooks.on_detainee_moved(listeners.detainee_moved)
