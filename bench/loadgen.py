"""A small HTTP load generator (asyncio, raw sockets): `concurrency` clients post JSON
bodies for `seconds`, each on a fresh connection (gunicorn's sync workers close it)."""

import asyncio
import json
import time
from collections.abc import Callable


async def _post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # the rest, until the server closes
    writer.close()
    return int(status_line.split()[1])


async def _run(host, port, path, make_body: Callable[[int], dict], headers, concurrency, seconds):
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))

    async def client():
        while time.perf_counter() < deadline:
            body = json.dumps(make_body(next(counter))).encode()
            started = time.perf_counter()
            try:
                status = await _post(host, port, path, body, headers)
            except OSError:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "requests_per_second": ok / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "statuses": statuses,
        "requests": len(latencies),
    }


def post_load(host, port, path, make_body, *, headers=None, concurrency=16, seconds=20.0) -> dict:
    return asyncio.run(_run(host, port, path, make_body, headers or {}, concurrency, seconds))
