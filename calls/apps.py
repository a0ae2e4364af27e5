from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = _("Appels")

    def ready(self) -> None:
        from bookings import hooks as bookings_hooks
        from calls import code_messages, listeners
        from calls.actions import do_announce_media_available, move_calls_off_node
        from media import hooks as media_hooks
        from notify import hooks as notify_hooks
        from notify.models import Message
        from people import hooks as people_hooks

        # A dead Janus takes its calls' media with it: they move to another node (or
        # wait for one), and their pages set their media up again there.
        media_hooks.on_node_down(move_calls_off_node)
        media_hooks.on_node_up(do_announce_media_available)

        # After bookings' own listeners (BookingsConfig.ready runs first), so a contact's
        # booking is cancelled, ending its call as "booking_cancelled", before the rest of
        # the contact's calls end as "contact_revoked".
        bookings_hooks.on_booking_cancelled(listeners.booking_cancelled)
        people_hooks.on_contact_revoked(listeners.contact_revoked)
        people_hooks.on_suspension_decided(listeners.suspension_decided)

        notify_hooks.on_status_change(Message.Purpose.CALL_CODE, code_messages.code_message_changed)
        notify_hooks.on_still_wanted(Message.Purpose.CALL_CODE, code_messages.code_still_wanted)
