"""Events to the platform, in one package (as saleor keeps its ``webhook`` package).

- models.py: the catalogue (EventType), endpoints, events, deliveries and their attempts;
- emit.py: raising an event in the transaction of its change;
- delivery.py: the worker's loop that sends them, with per-endpoint backoff;
- transport.py: HTTP that only reaches public addresses, within a deadline;
- api.py and admin.py: the platform's and the staff's view of them.

The rest of the code raises events through ``emit``, ``order_data`` and ``line_data``.
"""

from .emit import emit, line_data, order_data

__all__ = ["emit", "line_data", "order_data"]
