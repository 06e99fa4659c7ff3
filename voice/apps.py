from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
