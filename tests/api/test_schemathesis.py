"""Property-based run of schemathesis against the live schema, in-process.

Every operation in /api/v1/schema/ gets a bounded number of generated requests,
valid and invalid, sent through Django's WSGI handler with a real API key.
Schemathesis's checks fail the test on any 5xx and on any response whose
status, content type or body the schema does not document.

Each operation gets three runs: valid requests as generated, valid requests
whose reference, agent or webhook endpoint id and (half the time) phone
number are swapped for rows that exist, in every state, and invalid requests. Random references and
ids almost always miss, so without the swapped run the services behind the
404s would go untested; the test asserts each operation did succeed.
"""

from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from orders import services
from orders.models import Agent, BlockedNumber, Order, ProxyNumber, WebhookEndpoint
from voice.models import ClickToCall

pytestmark = pytest.mark.django_db

EXAMPLES_PER_RUN = 33
RUNS = (  # (generation mode, swap in existing rows)
    (GenerationMode.POSITIVE, False),
    (GenerationMode.POSITIVE, True),
    (GenerationMode.NEGATIVE, False),
)
# Left out: "schema-valid data must be accepted". No schema can say which
# strings are phone numbers in use, or which agent is active, so a request the
# schema allows can rightly be refused with a documented 400. Every other
# default check runs, among them no 5xx, documented statuses, content types,
# headers and bodies, and that invalid data is rejected.


@pytest.fixture
def wsgi_app():
    # Django's test client keeps the per-request connection cleanup away from
    # the test's transaction; a bare WSGI handler must be told the same, or the
    # first request would close the connection and roll the test data back.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def agent_ids(proxy_number) -> list[int]:
    ProxyNumber.objects.create(number="+14155550101")
    agents = [
        Agent.objects.create(name="Bob", phone="+14156667778"),
        Agent.objects.create(name="Dave", phone="+14156667780"),
        Agent.objects.create(name="Gone", phone="+14156667782", is_active=False),
    ]
    return [agent.pk for agent in agents]


def orders_in_every_state(agent_ids: list[int]) -> list[str]:
    """Fresh orders for one operation, so earlier operations cannot use them up."""
    # Generated PATCHes may have switched agents off in an earlier operation.
    Agent.objects.filter(pk__in=agent_ids[:2]).update(is_active=True)
    agent = Agent.objects.get(pk=agent_ids[0])
    # With a store, so that its line can be closed too.
    orders = {
        state: Order.objects.create(customer_name="Alice", customer_phone="+14156667777", store_phone="+14156667790")
        for state in "PADXC"
    }
    for state in "ADXC":
        services.assign_agent(orders[state], agent)
    services.mark_delivered(orders["X"])
    services.cancel_order(orders["C"])
    return [order.reference for order in orders.values()]


def test_the_api_answers_every_generated_request_as_its_schema_says(
    wsgi_app, api_key, agent_ids, settings_override, account
):
    # ``account``: click-to-call's requests reach the fake Plivo API, never the real one.
    references: list[str] = []
    endpoints: list[int] = []
    blocks: list[int] = []
    call_requests: list[tuple[str, str]] = []
    # Telling schemathesis which security scheme the key belongs to keeps it
    # from treating the Authorization header as data to generate or drop.
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"ApiKey": {"api_key": f"Api-Key {api_key[1]}"}}},
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app, config=config)

    swapping = {"on": False}

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters or not swapping["on"]:
            return st.just(path_parameters)
        if "reference" in path_parameters and "id" in path_parameters:
            # A click-to-call request of its own order.
            return st.sampled_from(call_requests).map(
                lambda pair: {**path_parameters, "reference": pair[0], "id": pair[1]}
            )
        if "reference" in path_parameters:
            return st.sampled_from(references).map(lambda reference: {**path_parameters, "reference": reference})
        path = context.operation.path if context.operation else ""
        ids = endpoints if "/webhook-endpoints/" in path else blocks if "/blocked-numbers/" in path else agent_ids
        return st.sampled_from(ids).map(lambda pk: {**path_parameters, "id": pk})

    phones = st.integers(0, 9999).map(lambda n: f"+1415666{n:04d}")

    @schema.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict) or not swapping["on"]:
            return st.just(body)
        path = context.operation.path if context.operation else ""
        if path.endswith("/assign/"):
            return st.sampled_from(agent_ids).map(lambda pk: {**body, "agent": pk})
        # Random strings are rarely phone numbers; swap in real ones so creates and edits can succeed.
        for field in ("phone", "customer_phone", "store_phone", "number"):
            if field in body:
                return st.one_of(st.just(body), phones.map(lambda phone, field=field: {**body, field: phone}))
        return st.just(body)

    examples: Counter[str] = Counter()
    successes: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]

    def fuzz(operation, mode: GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_RUN,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            response = case.call_and_validate()
            examples[operation.label] += 1
            if response.status_code < 300:
                successes[operation.label] += 1

        run()

    for operation in operations:
        references[:] = orders_in_every_state(agent_ids)
        call_requests[:] = [
            (
                reference,
                ClickToCall.objects.create(order=Order.objects.get(reference=reference), first_role="agent").public_id,
            )
            for reference in references
        ]
        # Fresh for each operation too: a generated DELETE may have removed the last ones.
        endpoints[:] = [WebhookEndpoint.objects.create(url=f"https://platform.example.com/{n}").pk for n in range(3)]
        BlockedNumber.objects.all().delete()
        blocks[:] = [BlockedNumber.objects.create(number=f"+1415555{n:04d}", reason="spam").pk for n in range(3)]
        for mode, swap in RUNS:
            swapping["on"] = swap
            fuzz(operation, mode)

    print(f"\nschemathesis: {len(operations)} operations, {sum(examples.values())} examples")
    for label in sorted(examples):
        print(f"  {label}: {examples[label]} examples, {successes[label]} succeeded")
    # agents 4, orders 13 (PATCH, close-store-line, the call log, click-to-call and its requests included),
    # webhook endpoints 6
    # (recover included), the events feed 1, blocked numbers 5
    assert len(operations) == 29
    assert set(successes) == {operation.label for operation in operations}


@pytest.fixture
def settings_override(settings):
    # Hundreds of requests in a few seconds with one key: throttling is tested elsewhere.
    settings.API_THROTTLE_RATE = "100000/min"
