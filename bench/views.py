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
# it LineQuerySet.live()'s expiry test, in the database's now()) instead of
# importing it. Keep the two in step when the live-line predicate changes.
# Since the abuse controls, the irreducible lookup also reads each party's
# calls in the current hour and any block in force on the caller's number;
# since store lines, it looks the caller up among the three parties of a line.
LOOKUP = """
SELECT l.id, l.order_id, l.kind, l.customer_phone, l.store_phone, a.phone,
  CASE WHEN l.customer_calls_since > now() - interval '1 hour' THEN l.customer_calls ELSE 0 END,
  CASE WHEN l.agent_calls_since > now() - interval '1 hour' THEN l.agent_calls ELSE 0 END,
  CASE WHEN l.store_calls_since > now() - interval '1 hour' THEN l.store_calls ELSE 0 END,
  FALSE AS blocked
FROM orders_line l LEFT JOIN orders_agent a ON a.id = l.agent_id
WHERE l.proxy_number_id = (SELECT id FROM orders_proxynumber WHERE number = %s)
  AND (l.customer_phone = %s OR l.store_phone = %s OR l.agent_id = (SELECT id FROM orders_agent WHERE phone = %s))
  AND l.expires_at > now()
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, TRUE
FROM orders_blockednumber WHERE number = %s AND (until IS NULL OR until > now())
ORDER BY blocked DESC
LIMIT 2
"""

INSERT = """
INSERT INTO voice_callrecord (call_uuid, order_id, line_id, caller_role, initiated_by, from_number, proxy_number,
                              dialled_number, outcome, asked_pin, dial_status, hangup_cause, started_at)
VALUES (%s, %s, %s, %s, 'caller', %s, %s, %s, %s, %s, '', '', now())
ON CONFLICT DO NOTHING
"""


@csrf_exempt
def ceiling(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT_XML, content_type="application/xml")


def _floor(request: HttpRequest, *, insert_prefix: str) -> HttpResponse:
    caller, proxy = "+" + request.POST["From"], "+" + request.POST["To"]
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP, [proxy, caller, caller, caller, caller])
        rows = cursor.fetchall()
        line_id, order_id, kind, customer, store, agent = rows[0][:6] if len(rows) == 1 else (None,) * 6
        phones = {"customer": customer, "store": store, "agent": agent}
        role = (
            "unknown" if line_id is None else next((r for r in ("customer", "store") if phones[r] == caller), "agent")
        )
        # The line's other party: its kind names both.
        dialled = phones[next(p for p in kind.split("_") if p != role)] if line_id else ""
        outcome = "connected" if order_id else ("pin_prompted" if rows else "unknown")
        cursor.execute(
            insert_prefix + INSERT,
            [
                request.POST["CallUUID"],
                order_id,
                line_id,
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
