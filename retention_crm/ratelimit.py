"""Fixed-window rate limits kept in Redis (the cache's own store when there is no Redis,
as under `make run`).

Written here rather than taken from django-ratelimit: that library lets a Redis
connection error through as a 500, and the public form must keep working when Redis is
down. Here an unreachable store lets the request through and says so in the log (fail
open): losing the limit for a while is better than losing the complaint.
"""

import hashlib
import logging
import time
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # Short timeouts: a Redis that is down or stuck costs a request well under a second.
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _count(key: str, window_seconds: int) -> int:
    """Add one hit to `key` and return the hits so far, the key expiring with its window."""
    if settings.REDIS_URL:
        pipeline = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, window_seconds + 60, nx=True)
        count, _expiry_set = pipeline.execute()  # one round trip
        return count
    cache.add(key, 0, timeout=window_seconds + 60)
    return cache.incr(key)


def allow(scope: str, subject: str, *, limit: int, window_seconds: int = 3600) -> bool:
    """Count one hit of `subject` (an IP, an email address) in `scope`; True while at
    most `limit` hits fell in the current window."""
    window = int(time.time() // window_seconds)
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    try:
        count = _count(f"ratelimit:{scope}:{digest}:{window}", window_seconds)
    except Exception as exc:  # any store failure: fail open
        logger.warning(
            "Rate limit %s not checked: the store is unreachable (%s); letting the request through.", scope, exc
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
