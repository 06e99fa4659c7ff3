"""Lines, step 3: the line table's indexes, and the order's old line columns dropped.

A migration of its own: on Postgres the rows 0014 inserted leave foreign-key
trigger events pending until its transaction ends, and a table with pending
trigger events cannot be altered in the same transaction.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0015_lines_data"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["customer_phone", "proxy_number"], name="line_customer_proxy"),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["store_phone", "proxy_number"], name="line_store_proxy"),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["agent", "proxy_number"], name="line_agent_proxy"),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["proxy_number", "expires_at"], name="line_proxy_expiry"),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["agent", "expires_at"], name="line_agent_expiry"),
        ),
        migrations.AddConstraint(
            model_name="line",
            constraint=models.UniqueConstraint(fields=("order", "kind"), name="line_one_per_kind"),
        ),
        migrations.RemoveConstraint(model_name="order", name="order_expiry_needs_proxy_number"),
        migrations.RemoveIndex(model_name="order", name="order_customer_proxy"),
        migrations.RemoveIndex(model_name="order", name="order_agent_proxy"),
        migrations.RemoveIndex(model_name="order", name="order_proxy_expiry"),
        migrations.RemoveIndex(model_name="order", name="order_agent_expiry"),
        migrations.RemoveField(model_name="order", name="agent_calls"),
        migrations.RemoveField(model_name="order", name="agent_calls_since"),
        migrations.RemoveField(model_name="order", name="customer_calls"),
        migrations.RemoveField(model_name="order", name="customer_calls_since"),
        migrations.RemoveField(model_name="order", name="masking_expires_at"),
        migrations.RemoveField(model_name="order", name="pin"),
        migrations.RemoveField(model_name="order", name="proxy_number"),
    ]
