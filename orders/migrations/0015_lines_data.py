"""Lines, step 2: every order with a proxy number gets its customer–agent line, and back.

One set-based statement each way, so a million orders take seconds, not the
hours a loop over model instances would (bench/migrate_lines.py times it).
``UPDATE … FROM`` is understood by Postgres and by SQLite 3.33 and later. The
reverse puts the customer–agent line back on its order; store lines have no
place in the old schema and go with the table (0013's reverse).
"""

from django.db import migrations

FORWARD = """
INSERT INTO orders_line (
    order_id, kind, proxy_number_id, pin, expires_at, customer_phone, store_phone, agent_id,
    customer_calls, customer_calls_since, agent_calls, agent_calls_since, store_calls, store_calls_since
)
SELECT id, 'customer_agent', proxy_number_id, pin, masking_expires_at, customer_phone, '', agent_id,
    customer_calls, customer_calls_since, agent_calls, agent_calls_since, 0, NULL
FROM orders_order
WHERE proxy_number_id IS NOT NULL
"""

REVERSE = """
UPDATE orders_order
SET proxy_number_id = l.proxy_number_id, pin = l.pin, masking_expires_at = l.expires_at,
    customer_calls = l.customer_calls, customer_calls_since = l.customer_calls_since,
    agent_calls = l.agent_calls, agent_calls_since = l.agent_calls_since
FROM orders_line AS l
WHERE l.order_id = orders_order.id AND l.kind = 'customer_agent'
"""


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0014_lines"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
