"""The orders app's admin pages. Django imports this module; importing each page's module registers it."""

from ..events import admin as events  # noqa: F401  (webhook endpoints, events, deliveries)
from . import api_keys, blocked, parties, tasks  # noqa: F401  (API keys, the block list, agents and the pool, task results)
from .orders import OrderAdmin

__all__ = ["OrderAdmin"]
