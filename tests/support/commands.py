"""Management commands run as a user runs them, and what they printed."""

from io import StringIO
from typing import NamedTuple

from django.core.management import call_command


class CommandOutput(NamedTuple):
    out: str
    err: str


def run_command(name: str, *args: str) -> CommandOutput:
    """Run a management command as a user would; what it printed."""
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return CommandOutput(out.getvalue(), err.getvalue())
