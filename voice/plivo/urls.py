from django.urls import path

from . import views

app_name = "voice"

urlpatterns = [
    path("answer/", views.answer, name="answer"),
    path("pin/", views.pin, name="pin"),
    path("dial-status/", views.dial_status, name="dial_status"),
    path("whisper/", views.whisper, name="whisper"),
    path("voicemail/", views.voicemail, name="voicemail"),
    path("recording/", views.recording, name="recording"),
    path("hangup/", views.hangup, name="hangup"),
    path("bridge/", views.bridge, name="bridge"),
    path("fallback/", views.fallback, name="fallback"),
    path("message/", views.message, name="message"),
]
