from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from notify import hooks, kiosk
        from notify.models import Message

        hooks.on_status_change(Message.Purpose.CALL_CODE, kiosk.code_message_changed)
        hooks.on_still_wanted(Message.Purpose.CALL_CODE, kiosk.code_still_wanted)
