from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = _("Appels")

    def ready(self) -> None:
        from calls.actions import do_announce_media_available, move_calls_off_node
        from media import hooks

        # A dead Janus takes its calls' media with it: they move to another node (or
        # wait for one), and their pages set their media up again there.
        hooks.on_node_down(move_calls_off_node)
        hooks.on_node_up(do_announce_media_available)
