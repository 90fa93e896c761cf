"""The sessions app: device and session identity, live sessions, session starts and ends."""
from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    # The label stays "sessions_app": django.contrib.sessions owns "sessions".
    name = "sessions_app"
    label = "sessions_app"
