"""Settings, routes and the WSGI entry point of the Spool project."""


class SettingError(ValueError):
    """A setting Spool cannot use; the message names the variable and what it accepts, in one line
    (manage.py and config/wsgi.py print it alone, without a traceback)."""
