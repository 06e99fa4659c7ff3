"""Single-use signature nonces: a captured webhook request must not work twice.

Plivo's V3 signature has no timestamp and its V2 signature does not even cover
the body, so a signature alone cannot tell a replay from the real request.
Where a replay would reveal a number or relay a text, the nonce is recorded
in a table with a unique key: the insert is atomic and shared by every worker
and host, and it fails like any query (bounded by the request's database
timeouts) instead of silently forgetting, as a cache would when it culls.

The answer URL needs no nonce: its call record, keyed on the CallUUID, already
says whether the call was seen before (voice.calls.answer). Old nonces are
deleted with the personal-data purge (``forget_nonces``).
"""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..models import WebhookNonce

_INSERT = (
    f"INSERT INTO {WebhookNonce._meta.db_table} (digest, seen_at) VALUES (%s, %s) "  # noqa: S608 - table from the model
    "ON CONFLICT (digest) DO NOTHING"
)


def first_use(nonce: str) -> bool:
    """Record ``nonce``; True the first time it is seen, False for a replay."""
    digest = hashlib.sha256(nonce.encode("utf-8", "surrogateescape")).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [digest, connection.ops.adapt_datetimefield_value(timezone.now())])
        return cursor.rowcount == 1


def forget_nonces(sender: type, *, cutoff: datetime, **kwargs) -> dict[str, int]:
    """Delete nonces seen before ``cutoff``, but keep at least as long as a line is opened for.

    A nonce forgotten while a line it could reach is still live would let its
    request work again; a line lives MASKING_SESSION_TTL from its last
    assignment.
    """
    keep_from = timezone.now() - timedelta(seconds=settings.MASKING_SESSION_TTL)
    deleted, _ = WebhookNonce.objects.filter(seen_at__lt=min(cutoff, keep_from)).delete()
    return {"webhook nonces": deleted}
