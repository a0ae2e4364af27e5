from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = _("Plan média")

    def ready(self) -> None:
        from media import checks  # noqa: F401  (registers the deploy checks)
