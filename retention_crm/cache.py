"""Django's Redis cache, keeping its client.

Django's `RedisCacheClient.get_client` makes a new `redis.Redis` for every cache call;
each one builds its table of some 170 response callbacks before it sends a byte. On an
API request whose token and permissions come from the cache, that was a tenth of the
web worker's time. A `redis.Redis` is safe to share: its connections come from the
pool, which it shares anyway (and which reopens them in a forked process).
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ClientKeepingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ClientKeepingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient
