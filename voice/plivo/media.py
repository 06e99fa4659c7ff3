"""Recording URLs: only an https URL on Plivo's media host is kept.

A recording's URL comes from a callback's ``RecordUrl``; the admin renders it
as an ``<audio src>`` for staff who may listen, and ``recording.ready`` /
``voicemail.received`` hand it to the platform, which may fetch or link it.
Plivo serves recordings from ``media.plivo.com`` or a region's
``<region>.media.plivo.com`` over https (docs/plivo.md, "Record"), so
anything else (``javascript:``, ``data:``, another host, credentials or a
port in the URL) did not come from Plivo's recorder and is dropped: the
recording is kept without a URL, as if it were not ready yet.
"""

import logging
import re
from urllib.parse import urlsplit

from orders.phones import log_value

logger = logging.getLogger(__name__)

# media.plivo.com, or one region's subdomain of it (aps1.media.plivo.com).
MEDIA_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)?media\.plivo\.com")
# Recording.url's length; a longer value would be cut into a broken URL.
MAX_LENGTH = 500


def is_plivo_media(url: str) -> bool:
    """True when ``url`` is an https URL on Plivo's media host, without user info or port."""
    # Printable ASCII without spaces or backslashes: browsers read a backslash as a slash,
    # and what they make of other characters is not what urlsplit makes of them.
    if not url or len(url) > MAX_LENGTH or not url.isascii() or not url.isprintable() or re.search(r"[\s\\]", url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and "@" not in parts.netloc
        and ":" not in parts.netloc
        and MEDIA_HOST.fullmatch(parts.netloc.lower()) is not None
    )


def recording_url(value: object, *, recording_id: str = "") -> str:
    """The recording URL a callback gave, when it is Plivo's media host; else empty, and logged (not the value)."""
    url = str(value or "")
    if not url or is_plivo_media(url):
        return url
    logger.warning("a recording URL that is not Plivo's media host was dropped (recording %s)", log_value(recording_id))
    return ""
