from django.apps import AppConfig


class RetentionCrmConfig(AppConfig):
    name = "retention_crm"
    verbose_name = "Retention CRM"

    def ready(self) -> None:
        # Connects the signals that keep cached permission sets current, in every process.
        from . import auth, db  # noqa: F401 - db registers SQLite's MEDIAN
