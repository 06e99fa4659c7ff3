"""Write rules for orders, their masked lines and the personal data they hold.

The admin, the commands, the API and the tests all call these functions, so
every path follows the same rules (docs/architecture.md, "Allocation"). Every
refusal is a ``ServiceError`` (orders/errors.py) with a code, and the HTTP
status and field the API answers it with.

- orders.py: creating an order, and its status transitions;
- lines.py: assigning an agent (opening the lines), allocation and PINs, the store and its lines, call
  counts, the pool;
- privacy.py: scrubbing closed orders.
"""

from .lines import (
    PoolSync,
    SharedNumber,
    assign_agent,
    close_store_line,
    count_call,
    set_store,
    sync_pool,
    validate_assignment,
    wanted_kinds,
)
from .orders import (
    ASSIGNABLE,
    CANCEL_FROM,
    DELIVER_FROM,
    PICK_UP_FROM,
    cancel_order,
    create_order,
    mark_delivered,
    mark_picked_up,
)
from .privacy import closed_orders, purge_personal_data

__all__ = [
    "ASSIGNABLE",
    "CANCEL_FROM",
    "DELIVER_FROM",
    "PICK_UP_FROM",
    "PoolSync",
    "SharedNumber",
    "assign_agent",
    "cancel_order",
    "close_store_line",
    "closed_orders",
    "count_call",
    "create_order",
    "mark_delivered",
    "mark_picked_up",
    "purge_personal_data",
    "set_store",
    "sync_pool",
    "validate_assignment",
    "wanted_kinds",
]
