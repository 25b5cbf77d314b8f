"""Fixed-window rate limits kept in the cache (Redis in production).

Written here rather than taken from django-ratelimit: that library lets a Redis
connection error through as a 500, and the public form must keep working when Redis is
down. Here an unreachable cache lets the request through and says so in the log (fail
open): losing the limit for a while is better than losing the complaint.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(scope: str, subject: str, *, limit: int, window_seconds: int = 3600) -> bool:
    """Count one hit of `subject` (an IP, an email address) in `scope`; True while at
    most `limit` hits fell in the current window."""
    window = int(time.time() // window_seconds)
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{digest}:{window}"
    try:
        cache.add(key, 0, timeout=window_seconds + 60)
        count = cache.incr(key)
    except Exception as exc:  # any cache failure: fail open
        logger.warning(
            "Rate limit %s not checked: the cache is unreachable (%s); letting the request through.", scope, exc
        )
        return True
    return count <= limit


def client_ip(request) -> str:
    """The client's address: the peer's, or with NUM_PROXIES trusted proxies in front,
    the address the outermost of them saw (X-Forwarded-For is forgeable beyond that)."""
    if settings.NUM_PROXIES:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= settings.NUM_PROXIES:
            return hops[-settings.NUM_PROXIES]
    return request.META.get("REMOTE_ADDR", "")
