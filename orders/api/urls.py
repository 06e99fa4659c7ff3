"""The orders app's routes under /api/v1/ (numbermasking/urls.py mounts them in the ``api`` namespace)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from ..events import api as events
from . import agents, blocked, orders

router = SimpleRouter()
router.register("agents", agents.AgentViewSet, basename="agent")
router.register("orders", orders.OrderViewSet, basename="order")
router.register("webhook-endpoints", events.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("blocked-numbers", blocked.BlockedNumberViewSet, basename="blocked-number")

urlpatterns = [
    path("events/", events.EventFeedView.as_view(), name="events"),
    path("", include(router.urls)),
]
