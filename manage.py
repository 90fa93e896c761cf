#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line

    from config import SettingError

    try:
        execute_from_command_line(sys.argv)
    except SettingError as error:  # a wrong setting: its one line, not a traceback
        sys.exit(f"spool: {error}")


if __name__ == "__main__":
    main()
