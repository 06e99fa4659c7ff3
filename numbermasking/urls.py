from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView, TemplateView

from numbermasking.metrics import metrics_view
from voice import api as voice_api
from voice import dashboard_page, simulator
from voice import views as voice_views

# The admin is the dispatchers' product, not "Django administration".
admin.site.site_header = "Number masking"
admin.site.site_title = "Number masking"
admin.site.index_title = "Dispatch"

urlpatterns = [
    path("admin/call-simulator/", admin.site.admin_view(simulator.call_simulator), name="call_simulator"),
    path("admin/dashboard/", admin.site.admin_view(dashboard_page.dashboard_page), name="dashboard"),
    path("admin/", admin.site.urls),
    path("voice/", include("voice.urls")),
    # The dispatch API is orders', except the call log and click-to-call (its requests too), which are voice's.
    re_path(r"^api/v1/orders/(?P<reference>[^/]+)/calls/$", voice_api.OrderCallsView.as_view(), name="order_calls"),
    re_path(r"^api/v1/orders/(?P<reference>[^/]+)/call/$", voice_api.OrderCallView.as_view(), name="order_call"),
    re_path(
        r"^api/v1/orders/(?P<reference>[^/]+)/call-requests/$",
        voice_api.OrderCallRequestsView.as_view(),
        name="order_call_requests",
    ),
    re_path(
        r"^api/v1/orders/(?P<reference>[^/]+)/call-requests/(?P<id>[^/]+)/$",
        voice_api.OrderCallRequestView.as_view(),
        name="order_call_request",
    ),
    path("api/v1/", include("orders.urls")),
    # The seed tutorial's answer URL, kept so numbers configured from it work.
    path("numbermasking/handle_incoming/", voice_views.answer, name="handle_incoming"),
    path("healthz", voice_views.healthz, name="healthz"),
    # Prometheus' scrape; a 404 unless METRICS_TOKEN is set (README, "Metrics").
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for it on every page that names no icon (the webhooks' answers, the API's JSON).
    path(
        "favicon.ico",
        TemplateView.as_view(template_name="favicon.svg", content_type="image/svg+xml"),
        name="favicon",
    ),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
