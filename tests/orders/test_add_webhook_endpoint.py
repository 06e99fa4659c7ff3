"""manage.py add_webhook_endpoint: adds an endpoint and prints its secret once."""

import pytest
from django.core.management import CommandError, call_command

from orders.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_it_adds_an_endpoint_for_every_type_and_prints_its_secret(capsys):
    call_command("add_webhook_endpoint", "https://platform.example.com/hooks")

    endpoint = WebhookEndpoint.objects.get()
    out = capsys.readouterr().out
    assert f"Webhook endpoint {endpoint.pk} added for https://platform.example.com/hooks (every event type)." in out
    assert endpoint.secret in out and endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == [] and endpoint.is_active


def test_it_takes_the_types_the_endpoint_wants(capsys):
    call_command("add_webhook_endpoint", "http://localhost:9000/in", "--events", "line.opened, call.missed")

    assert WebhookEndpoint.objects.get().event_types == ["line.opened", "call.missed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://x.example.com"], "is not an http:// or https:// URL"),
        (["https://x.example.com", "--events", "call.answered"], "Unknown event type(s): call.answered"),
    ],
)
def test_it_refuses_bad_input_with_a_sentence(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("add_webhook_endpoint", *args)

    assert not WebhookEndpoint.objects.exists()
