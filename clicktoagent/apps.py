import django_stubs_ext
from django.apps import AppConfig

# The admin classes subscript Django's generics (ModelAdmin[Queue]) at run time, which only
# django-stubs-ext makes possible; this runs before any app's admin module is imported.
django_stubs_ext.monkeypatch()


class ClickToAgentConfig(AppConfig):
    name = "clicktoagent"
    verbose_name = "Click-to-Agent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf  # noqa: F401  (registers checks and the settings reloader)
        from .crm import checks as crm_checks  # noqa: F401
        from .crm import receivers as crm_receivers  # noqa: F401  (CRM write-back)
        from .dialogtech.redact import install_log_redaction
        from .policy import checks_system as policy_checks  # noqa: F401
        from .webhooks import (
            providers,  # noqa: F401  (their settings, parsers and checks)
            receivers,  # noqa: F401  (results back to webhook senders)
        )

        install_log_redaction()
