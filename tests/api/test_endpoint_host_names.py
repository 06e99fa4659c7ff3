"""A webhook endpoint whose host name no DNS could hold is a 400 with the field at fault, never a 500."""

import pytest

from orders.models import WebhookEndpoint
from tests.support.api import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("host", ["a" * 64 + ".example.com", "a..example.com", "é" * 70 + ".example.com"])
def test_a_host_name_the_idna_codec_refuses_is_a_400(api, host):
    response = api.post("/api/v1/webhook-endpoints/", {"url": f"https://{host}/hooks"}, format="json")

    assert_error(response, 400, "invalid", ("url",))
    assert not WebhookEndpoint.objects.exists()
