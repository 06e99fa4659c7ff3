from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import api, api_blocked
from .events import api as api_events

router = SimpleRouter()
router.register("agents", api.AgentViewSet, basename="agent")
router.register("orders", api.OrderViewSet, basename="order")
router.register("webhook-endpoints", api_events.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("blocked-numbers", api_blocked.BlockedNumberViewSet, basename="blocked-number")

app_name = "api"

urlpatterns = [
    path("events/", api_events.EventFeedView.as_view(), name="events"),
    path("", include(router.urls)),
    # The schema and its docs hold no data, so they are open: an integrator
    # can read them before being given a key.
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    re_path(r"^(?P<path>.*)$", api.unknown_endpoint),
]
