from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = _("Appels")

    def ready(self) -> None:
        from calls.actions import fail_calls_on_node
        from media import hooks

        # A dead Janus takes its calls' media with it: say so at once, to both sides.
        hooks.on_node_down(fail_calls_on_node)
