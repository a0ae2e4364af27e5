from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WwwConfig(AppConfig):
    name = "www"
    verbose_name = _("Interfaces")

    def ready(self):
        # Connects the audit of staff lockouts (django-axes's signal).
        from www.console import auth  # noqa: F401
