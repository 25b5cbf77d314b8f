"""Say clearly which service `make test` needs and cannot reach, before any test runs.

Reads DATABASE_URL, CELERY_BROKER_URL and REDIS_URL as the settings do. With
`--create-database` (make bench) the database DATABASE_URL names is created when missing:
the test run makes its own, the benchmarks keep theirs between runs.
"""

import os
import sys
from urllib.parse import urlsplit

import psycopg
import redis

HOW_TO_START = {
    "PostgreSQL": "start it (e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
    "or point DATABASE_URL at one",
    "Redis": "start it (e.g. redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '') "
    "or point CELERY_BROKER_URL and REDIS_URL at one",
}


def check_postgres(url: str, *, create_database: bool = False) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        return f"DATABASE_URL must point at PostgreSQL for the tests, not {parts.scheme}://"
    try:
        # The server's own database is enough to know it answers; the test database is
        # created by the test run.
        with psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password,
            dbname="postgres",
            connect_timeout=3,
            autocommit=True,
        ) as conn:
            conn.execute("SELECT 1")
            name = parts.path.lstrip("/")
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if create_database and name and exists is None:
                conn.execute(f'CREATE DATABASE "{name}"')
                print(f"Created the database {name}.")
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432}: {str(exc).strip()}"
    return None


def check_redis(name: str, url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis ({name}) is not reachable at {url}: {exc}"
    return None


def main() -> int:
    problems = []
    error = check_postgres(os.environ["DATABASE_URL"], create_database="--create-database" in sys.argv)
    if error:
        problems.append(("PostgreSQL", error))
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        error = check_redis(name, os.environ[name])
        if error:
            problems.append(("Redis", error))
    for service, error in problems:
        print(f"make test: {error}\n  -> {HOW_TO_START[service]}.", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
