"""/api/v1/agents/: the delivery agents orders are assigned to."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from ..models import Agent
from .errors import error_responses
from .serializers import AgentSerializer
from .views import Pagination


@extend_schema_view(
    list=extend_schema(summary="List agents", responses={200: AgentSerializer(many=True), **error_responses(400, 404)}),
    create=extend_schema(summary="Create an agent", responses={201: AgentSerializer, **error_responses(400, 415)}),
    retrieve=extend_schema(summary="Get an agent", responses={200: AgentSerializer, **error_responses(404)}),
    partial_update=extend_schema(
        summary="Change an agent's name, phone or active flag",
        responses={200: AgentSerializer, **error_responses(400, 404, 415)},
    ),
)
class AgentViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    # An agent is one row, so the model serializer writes it, as the admin's form does.
    queryset = Agent.objects.order_by("name", "pk")
    serializer_class = AgentSerializer
    pagination_class = Pagination
    # Whatever the id looks like, DRF answers (a JSON 404), not Django's HTML page.
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "head", "options"]
