"""A small world of orders: the suite's phone numbers, open lines and the pool as it stands."""

from orders import services
from orders.models import Agent, Order, ProxyNumber

PROXY = "+14155550100"
CUSTOMER = "+14156667777"
AGENT_PHONE = "+14156667778"


def open_line(customer_phone: str, agent: Agent, *, name: str = "Customer") -> Order:
    """A new order for ``customer_phone`` with ``agent`` assigned, so its line is live."""
    order = Order.objects.create(customer_name=name, customer_phone=customer_phone)
    return services.assign_agent(order, agent)


def pool() -> dict[str, bool]:
    """Every proxy number in the pool, and whether it is active."""
    return {str(proxy.number): proxy.is_active for proxy in ProxyNumber.objects.all()}


def wrong_pin(*orders: Order) -> str:
    """A PIN of none of ``orders``."""
    taken = {order.masking.pin for order in orders}
    return next(pin for pin in (f"{n:04d}" for n in range(10000)) if pin not in taken)
