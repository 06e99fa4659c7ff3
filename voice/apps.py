from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"

    def ready(self) -> None:
        from orders.signals import purging_personal_data

        from .plivo import checks  # noqa: F401  (registers the system checks)
        from .plivo.replays import forget_nonces
        from .privacy import expire_recordings, scrub_call_log

        purging_personal_data.connect(scrub_call_log, dispatch_uid="voice.scrub_call_log")
        purging_personal_data.connect(expire_recordings, dispatch_uid="voice.expire_recordings")
        # Not personal data, but the same daily job: old nonces go with it.
        purging_personal_data.connect(forget_nonces, dispatch_uid="voice.forget_nonces")
