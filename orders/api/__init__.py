"""The dispatch system's HTTP API under /api/v1/: one module per resource, and what they share.

- urls.py: this app's routes (numbermasking/urls.py mounts them with voice's, and the JSON 404 last);
- orders.py, agents.py, blocked.py: the resources (webhook endpoints and the feed: orders/events/api.py);
- serializers.py: one strict base for every field; views.py: pagination and id lookups; parsers.py;
- keys.py: API keys (authentication, the per-key throttle, and creating keys);
- errors.py: one JSON shape for every error.

Views parse the request and call the same orders.services functions as the admin; they never touch Plivo.
"""
