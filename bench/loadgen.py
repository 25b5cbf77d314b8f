"""A small HTTP load generator (asyncio, raw sockets): `concurrency` clients post bodies
for `seconds`, each on a fresh connection (gunicorn's sync workers close it). JSON by
default; `post_form_load` posts a CSRF-protected form."""

import asyncio
import json
import time
import urllib.parse
from collections.abc import Callable

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


async def post(host: str, port: int, path: str, body: bytes, headers: dict[str, str], content_type: str = JSON) -> int:
    """One POST on a new connection; its status code."""
    reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    # The whole answer read, the client closes, as a proxy in front of gunicorn does; a
    # client that waited for the server to close first would keep the worker waiting
    # for its close in return (gunicorn lingers until the peer closes, RFC 9112 9.6).
    if length is None:
        await reader.read()  # until the server closes
    else:
        await reader.readexactly(length)
    writer.close()
    return int(status_line.split()[1])


async def _run(host, port, path, encode: Callable[[int], bytes], headers, content_type, concurrency, seconds):
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))

    async def client():
        while time.perf_counter() < deadline:
            number = next(counter)
            body = encode(number)
            started = time.perf_counter()
            try:
                status = await post(host, port, path(number) if callable(path) else path, body, headers, content_type)
            except OSError:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    # Success: 2xx for the API, the redirect after a form.
    ok = sum(count for status, count in statuses.items() if 200 <= status < 400)
    return {
        "requests_per_second": ok / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "statuses": statuses,
        "requests": len(latencies),
    }


def post_load(host, port, path, make_body, *, headers=None, concurrency=16, seconds=20.0) -> dict:
    """JSON bodies from make_body(n)."""

    def encode(number: int) -> bytes:
        return json.dumps(make_body(number)).encode()

    return asyncio.run(_run(host, port, path, encode, headers or {}, JSON, concurrency, seconds))


def post_form_load(host, port, path, make_fields, *, cookie: str, token: str, concurrency=16, seconds=20.0) -> dict:
    """Form posts of make_fields(n), with a CSRF cookie and its token; `path` may be a
    function of n (a survey link per post)."""

    def encode(number: int) -> bytes:
        return urllib.parse.urlencode({**make_fields(number), "csrfmiddlewaretoken": token}).encode()

    headers = {"Cookie": f"csrftoken={cookie}"}
    return asyncio.run(_run(host, port, path, encode, headers, FORM, concurrency, seconds))
