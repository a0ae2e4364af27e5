from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = _("Enregistrements")

    def ready(self) -> None:
        from recordings import checks  # noqa: F401  (registers the deploy checks)
