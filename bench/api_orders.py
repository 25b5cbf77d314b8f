"""POST /api/orders/ under gunicorn, against a one-INSERT Django view served by the same
gunicorn settings in the same run (bench/urls.py), on the 10M-order database."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token

from customers.models import Customer, Order
from customers.services import orders_delete

from .loadgen import post_load

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CONCURRENCY = 16
SECONDS = 20.0
WARM_UP_NUMBERS = 10**8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "retention_crm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        raise RuntimeError("gunicorn did not start")
    _wait_until_workers_serve(port)
    return process


def _wait_until_workers_serve(port: int) -> None:
    """The port opens when gunicorn's master binds it, before its workers have imported
    the project (about 1.4 s each, all at once on two cores): requests sent then wait
    seconds, which a latency run counted against the first 150 tickets. Wait until a
    round of parallel GETs, two for each worker, is answered quickly."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = time.perf_counter()
        threads = [threading.Thread(target=_get, args=(port,)) for _worker in range(WORKERS * 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if time.perf_counter() - started < 0.2:
            return
    raise RuntimeError("gunicorn's workers did not start serving")


def _get(port: int) -> None:
    with contextlib.suppress(OSError):  # an error page answers too; only the time matters
        urllib.request.urlopen(f"http://127.0.0.1:{port}/support/", timeout=30).read()


def run(report) -> None:
    report.say(
        f"\n## POST /api/orders/ under gunicorn ({WORKERS} sync workers, {CONCURRENCY} clients, {SECONDS:.0f} s)"
    )
    user, _ = User.objects.get_or_create(username="bench-integration", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Support manager"))
    token, _ = Token.objects.get_or_create(user=user)
    run_id = f"{int(time.time())}"
    rng = random.Random(7)
    now = datetime.now(UTC)

    def order_body(number: int) -> dict:
        existing = rng.random() < 0.7
        return {
            "order_id": f"API-{run_id}-{number}",
            "customer_id": f"B{rng.randint(1, 1_000_000):07d}" if existing else f"APIC-{run_id}-{number}",
            "customer_email": None if existing else f"api{run_id}.{number}@bench.example",
            "placed_at": (now - timedelta(minutes=rng.randint(1, 600))).isoformat(),
            "total": f"{rng.randint(500, 20000) / 100:.2f}",
            "status": "paid",
            "lines": [{"sku": f"BENCH-{rng.randint(1, 20)}", "quantity": 1, "unit_price": "9.90"}],
        }

    port = free_port()
    server = start_gunicorn(port)
    try:
        auth = {"Authorization": f"Token {token.key}"}

        # The warm-up's orders are numbered apart: the same order id again would be an
        # idempotent replay (a 200, and cheaper) in the measured run.
        def warm_up(number: int) -> dict:
            return order_body(WARM_UP_NUMBERS + number)

        post_load("127.0.0.1", port, "/api/orders/", warm_up, headers=auth, concurrency=CONCURRENCY, seconds=3)
        post_load("127.0.0.1", port, "/bench/one-insert/", warm_up, concurrency=CONCURRENCY, seconds=3)
        ours = post_load(
            "127.0.0.1", port, "/api/orders/", order_body, headers=auth, concurrency=CONCURRENCY, seconds=SECONDS
        )
        ceiling = post_load(
            "127.0.0.1", port, "/bench/one-insert/", order_body, concurrency=CONCURRENCY, seconds=SECONDS
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for label, result in (("POST /api/orders/", ours), ("one-INSERT view (ceiling)", ceiling)):
        report.say(
            f"  {label}: {result['requests_per_second']:.0f} requests/s, p50 {result['p50_ms']:.0f} ms,"
            f" p99 {result['p99_ms']:.0f} ms, statuses {result['statuses']}"
        )
    ratio = ours["requests_per_second"] / ceiling["requests_per_second"]
    report.figure("api_orders_ratio", ratio, f"  ratio: {ratio:.2f}")
    report.figures["api_orders_rps"] = ours["requests_per_second"]
    report.figures["api_ceiling_rps"] = ceiling["requests_per_second"]

    # Leave the data set as it was, through the services (the aggregates stay exact).
    created = list(Order.objects.filter(external_id__startswith=f"API-{run_id}-").values_list("pk", flat=True))
    for start in range(0, len(created), 5000):
        orders_delete(order_ids=created[start : start + 5000])
    Customer.objects.filter(external_id__startswith=f"APIC-{run_id}-").delete()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_ping")
    report.say(f"  removed the {len(created):,} orders the run made")
