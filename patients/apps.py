from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self) -> None:
        # Token revocation on disable and discharge (patients/signals.py).
        from patients import signals  # noqa: F401
