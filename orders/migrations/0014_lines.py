"""Lines, step 1: the store fields on orders and the line table (its indexes come after the data, in 0015)."""

import django.db.models.deletion
import phonenumber_field.modelfields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0013_admin_wording"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="store_name",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="order",
            name="store_phone",
            field=phonenumber_field.modelfields.PhoneNumberField(blank=True, max_length=128, region=None),
        ),
        migrations.CreateModel(
            name="Line",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("customer_agent", "Customer–agent"),
                            ("store_agent", "Store–agent"),
                            ("customer_store", "Customer–store"),
                        ],
                        max_length=16,
                    ),
                ),
                ("pin", models.CharField(blank=True, max_length=8, verbose_name="PIN")),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "customer_phone",
                    phonenumber_field.modelfields.PhoneNumberField(blank=True, max_length=128, region=None),
                ),
                ("store_phone", phonenumber_field.modelfields.PhoneNumberField(blank=True, max_length=128, region=None)),
                ("customer_calls", models.PositiveIntegerField(default=0, editable=False)),
                ("customer_calls_since", models.DateTimeField(blank=True, editable=False, null=True)),
                ("agent_calls", models.PositiveIntegerField(default=0, editable=False)),
                ("agent_calls_since", models.DateTimeField(blank=True, editable=False, null=True)),
                ("store_calls", models.PositiveIntegerField(default=0, editable=False)),
                ("store_calls_since", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "agent",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="orders.agent",
                    ),
                ),
                (
                    "order",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="orders.order",
                    ),
                ),
                (
                    "proxy_number",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="orders.proxynumber",
                    ),
                ),
            ],
            options={"ordering": ["order", "kind"]},
        ),
    ]
