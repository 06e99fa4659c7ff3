"""The log formatter: no phone number and no forged line in any log output.

Code redacts the numbers it logs (orders.phones.redact, log_value), but
text the code does not control reaches the log too: a database error's
detail (``Key (phone)=(+14155580011) already exists``), an exception message
quoting a request value. This formatter is the net under all of it.
"""

import logging

from orders.phones import hide_numbers


class SafeFormatter(logging.Formatter):
    """Hides number-like digit runs in messages and tracebacks; a message stays one line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = hide_numbers(record.message).replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return hide_numbers(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return hide_numbers(super().formatStack(stack_info))
