#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermasking.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting to fix (SECRET_KEY, DATABASE_URL...) is one sentence for
        # the person at the terminal, not forty lines of Django internals;
        # --traceback still shows where it came from.
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"Error: {error}")


if __name__ == "__main__":
    main()
