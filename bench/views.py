"""The two baselines the webhook is measured against (benchmark settings only).

ceiling: what Django and gunicorn cost with no work at all.
floor: the irreducible database work of an answer, written by hand: one
indexed lookup of the caller and one insert of the call record, committed the
way the webhook commits it. Everything the webhook adds on top (signature,
number parsing, ORM, XML, logging) is the gap between the two.
"""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from voice.records import ASYNC_COMMIT_PREFIX

CONSTANT_XML = "<Response><Dial><Number>14150000000</Number></Dial></Response>"

# The floor's own copy of the routing query, by design: the floor is what a
# hand-written webhook would do, so it repeats orders.routing's SQL (and with
# it OrderQuerySet.live()'s expiry test, in the database's now()) instead of
# importing it. Keep the two in step when the live-line predicate changes.
# Since the abuse controls, the irreducible lookup also reads each party's
# calls in the current hour and any block in force on the caller's number.
LOOKUP = """
SELECT o.id, o.customer_phone, a.phone,
  CASE WHEN o.customer_calls_since > now() - interval '1 hour' THEN o.customer_calls ELSE 0 END,
  CASE WHEN o.agent_calls_since > now() - interval '1 hour' THEN o.agent_calls ELSE 0 END,
  FALSE AS blocked
FROM orders_order o LEFT JOIN orders_agent a ON a.id = o.agent_id
WHERE o.proxy_number_id = (SELECT id FROM orders_proxynumber WHERE number = %s)
  AND (o.customer_phone = %s OR o.agent_id = (SELECT id FROM orders_agent WHERE phone = %s))
  AND o.masking_expires_at > now()
UNION ALL
SELECT NULL, NULL, NULL, 0, 0, TRUE FROM orders_blockednumber WHERE number = %s AND (until IS NULL OR until > now())
ORDER BY blocked DESC
LIMIT 2
"""

INSERT = """
INSERT INTO voice_callrecord (call_uuid, order_id, caller_role, from_number, proxy_number, dialled_number,
                              outcome, asked_pin, dial_status, hangup_cause, started_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '', '', now())
ON CONFLICT DO NOTHING
"""


@csrf_exempt
def ceiling(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT_XML, content_type="application/xml")


def _floor(request: HttpRequest, *, insert_prefix: str) -> HttpResponse:
    caller, proxy = "+" + request.POST["From"], "+" + request.POST["To"]
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP, [proxy, caller, caller, caller])
        rows = cursor.fetchall()
        order_id, customer_phone, agent_phone = rows[0][:3] if len(rows) == 1 else (None, None, None)
        role = "unknown" if order_id is None else ("customer" if customer_phone == caller else "agent")
        dialled = agent_phone if role == "customer" else customer_phone
        outcome = "connected" if order_id else ("pin_prompted" if rows else "unknown")
        cursor.execute(
            insert_prefix + INSERT,
            [
                request.POST["CallUUID"],
                order_id,
                role,
                caller,
                proxy,
                dialled or "",
                outcome,
                outcome == "pin_prompted",
            ],
        )
    return HttpResponse(CONSTANT_XML, content_type="application/xml")


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """The floor with the webhook's commit setting for call records."""
    return _floor(request, insert_prefix=ASYNC_COMMIT_PREFIX)


@csrf_exempt
def floor_durable(request: HttpRequest) -> HttpResponse:
    """The floor with a durable commit: what synchronous_commit=off saves."""
    return _floor(request, insert_prefix="")
