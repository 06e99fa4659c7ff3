"""The log formatter: no phone number and no forged line in any log output.

Code redacts the numbers it logs (orders.phones.redact, log_value), but
text the code does not control reaches the log too: a database error's
detail (``Key (phone)=(+14155580011) already exists``), an exception message
quoting a request value. This formatter is the net under all of it.
"""

import logging
import re

# Runs of digits long enough to be a phone number (with or without +): nearly
# every number in use has eight digits or more with its country code, and
# shorter runs (ids, times, counts) stay readable.
_NUMBER_LIKE = re.compile(r"\+?\d{8,}")


def hide_numbers(text: str) -> str:
    """``text`` with every run of digits that could be a phone number replaced by ``***``."""
    return _NUMBER_LIKE.sub("***", text)


class SafeFormatter(logging.Formatter):
    """Hides number-like digit runs in messages and tracebacks; a message stays one line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = hide_numbers(record.message).replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return hide_numbers(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return hide_numbers(super().formatStack(stack_info))
