# Click-to-call becomes a reservation stored before Plivo is asked (voice/click_to_call.py).

import secrets

import django.utils.timezone
from django.db import migrations, models

import voice.models


def existing_requests_were_placed(apps, schema_editor):
    """Rows written before this change are calls Plivo accepted; each gets its own public id."""
    ClickToCall = apps.get_model("voice", "ClickToCall")
    for row in ClickToCall.objects.filter(public_id__isnull=True).iterator():
        ClickToCall.objects.filter(pk=row.pk).update(
            public_id="ctc_" + secrets.token_hex(12),
            state="placed",
            attempts=1,
            placed_at=row.requested_at,
            updated_at=row.requested_at,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0009_abuse_controls'),
        ('voice', '0008_dashboard_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='clicktocall',
            name='public_id',
            field=models.CharField(editable=False, max_length=28, null=True, verbose_name='id'),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='state',
            field=models.CharField(choices=[('queued', 'Queued'), ('placing', 'Placing'), ('placed', 'Placed'), ('refused', 'Refused'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='reason',
            field=models.CharField(blank=True, choices=[('plivo_refused', 'Plivo refused'), ('plivo_unavailable', 'Plivo unavailable'), ('line_not_live', 'line not live'), ('no_agent', 'no agent'), ('blocked', 'Blocked'), ('party_not_callable', 'party not callable')], max_length=32),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='detail',
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text="Requests made to Plivo's Call API."),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='placed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='clicktocall',
            name='updated_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name='clicktocall',
            name='request_uuid',
            field=models.CharField(blank=True, max_length=64, null=True, unique=True, verbose_name='request UUID'),
        ),
        migrations.RunPython(existing_requests_were_placed, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='clicktocall',
            name='public_id',
            field=models.CharField(default=voice.models.new_call_request_id, editable=False, max_length=28, unique=True, verbose_name='id'),
        ),
        migrations.AddIndex(
            model_name='clicktocall',
            index=models.Index(fields=['requested_at'], name='clicktocall_requested_at'),
        ),
    ]
