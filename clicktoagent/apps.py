from django.apps import AppConfig


class ClickToAgentConfig(AppConfig):
    name = "clicktoagent"
    verbose_name = "Click-to-Agent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf  # noqa: F401  (registers checks and the settings reloader)
        from .crm import checks as crm_checks  # noqa: F401
        from .crm import receivers as crm_receivers  # noqa: F401  (CRM write-back)
        from .dialogtech.redact import install_log_redaction
        from .webhooks import checks as webhook_checks  # noqa: F401
        from .webhooks import receivers  # noqa: F401  (results back to webhook senders)

        install_log_redaction()
