"""Every URL of the service: the admin, Plivo's webhooks, the dispatch API built from each app's own routes,
and what operations tools ask for."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import orders.api.urls
import voice.api
from numbermasking import ops
from orders.api.errors import unknown_endpoint
from voice.ops import simulator
from voice.ops import views as ops_views
from voice.plivo import views as webhooks

# The admin is the dispatchers' product, not "Django administration".
admin.site.site_header = "Number masking"
admin.site.site_title = "Number masking"
admin.site.index_title = "Dispatch"

api = [
    *orders.api.urls.urlpatterns,
    *voice.api.urlpatterns,
    # The schema and its docs hold no data, so they are open: an integrator
    # can read them before being given a key.
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    # Last: any other path under /api/v1/ is the API's JSON 404, not Django's HTML page.
    re_path(r"^(?P<path>.*)$", unknown_endpoint),
]

urlpatterns = [
    path("admin/call-simulator/", admin.site.admin_view(simulator.call_simulator), name="call_simulator"),
    path("admin/dashboard/", admin.site.admin_view(ops_views.dashboard_page), name="dashboard"),
    path("admin/", admin.site.urls),
    path("voice/", include("voice.plivo.urls")),
    path("api/v1/", include((api, "api"))),
    # The seed tutorial's answer URL, kept so numbers configured from it work.
    path("numbermasking/handle_incoming/", webhooks.answer, name="handle_incoming"),
    path("healthz", ops.healthz, name="healthz"),
    # Prometheus' scrape; a 404 unless METRICS_TOKEN is set (docs/operating.md, "Metrics").
    path("metrics", ops.metrics_view, name="metrics"),
    # Browsers ask for it on every page that names no icon (the webhooks' answers, the API's JSON).
    path(
        "favicon.ico",
        TemplateView.as_view(template_name="favicon.svg", content_type="image/svg+xml"),
        name="favicon",
    ),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
