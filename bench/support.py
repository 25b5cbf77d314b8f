"""Customer care under load, with the real processes:

1. /support/ form posts under gunicorn against a ceiling measured in the same run: a
   Django view that validates a CSRF-protected form and inserts one row, served by the
   same gunicorn settings. The rate limits are raised through the environment.
2. From a form post to the acknowledgment at an SMTP sink while 50 tickets a second
   arrive for a minute, with a Celery worker, a mailer and beat on Redis and PostgreSQL.
3. Mail delivery: how many emails a second two worker processes get to an SMTP sink.

Everything the runs create is removed afterwards.
"""

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from aiosmtpd.controller import Controller
from django.db import connection, transaction

from customers.models import Customer, Message
from customers.outbox import email, emails_write
from feedback.models import Ticket

from .api_orders import free_port, start_gunicorn
from .loadgen import FORM, post, post_form_load
from .tickets import _purge_queues
from .tickets import ensure as ensure_tickets

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONCURRENCY = 16
SECONDS = 20.0
RATE = 50  # tickets a second, for the latency run
LATENCY_SECONDS = 60
WARM_UP_SECONDS = 3
MAILS = 4000

NO_LIMITS = {
    "SUPPORT_POSTS_PER_IP_PER_HOUR": str(10**9),
    "SUPPORT_TICKETS_PER_EMAIL_PER_HOUR": str(10**9),
}


# --- An SMTP sink that notes when each message arrives --------------------------------


class Sink:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # the name aiosmtpd calls
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            for recipient in envelope.rcpt_tos:
                self.arrivals.setdefault(recipient, now)
        return "250 OK"

    def start(self) -> tuple[Controller, int]:
        port = free_port()
        controller = Controller(self, hostname="127.0.0.1", port=port)
        controller.start()
        return controller, port


# --- Form posts ---------------------------------------------------------------------------


def csrf_pair(port: int, path: str) -> tuple[str, str]:
    """A CSRF cookie and a form token that goes with it, from one GET of the form."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        page = response.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", response.headers["Set-Cookie"]).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return cookie, token


def form_load(port: int, path: str, make_fields, cookie: str, token: str, *, seconds: float) -> dict:
    """`CONCURRENCY` clients post the form for `seconds`, each post on a new connection."""
    return post_form_load(
        "127.0.0.1", port, path, make_fields, cookie=cookie, token=token, concurrency=CONCURRENCY, seconds=seconds
    )


def complaint(run_id: str):
    def fields(number: int) -> dict:
        return {
            "name": f"Bench customer {number}",
            "email": f"form{run_id}.{number}@bench.example",
            "kind": "complaint",
            "order_reference": "",
            "message": "The parcel arrived broken; please send a new one.",
            "website": "",
        }

    return fields


def _clean(run_id: str) -> int:
    """Remove what a run made: its customers, their tickets and emails."""
    customers = Customer.objects.filter(email__startswith=f"form{run_id}.")
    tickets = Ticket.objects.filter(customer__in=customers)
    count = tickets.count()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM customers_message WHERE customer_id IN"
            " (SELECT id FROM customers_customer WHERE email LIKE %s)",
            [f"form{run_id}.%"],
        )
    tickets.delete()
    customers.delete()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_ping")
    _purge_queues()
    return count


def run_form(report) -> None:
    report.say(f"\n## /support/ form posts under gunicorn (4 sync workers, {CONCURRENCY} clients, {SECONDS:.0f} s)")
    run_id = f"{int(time.time())}"
    port = free_port()
    os.environ.update(NO_LIMITS)
    server = start_gunicorn(port)
    try:
        cookie, token = csrf_pair(port, "/support/")
        ceiling_cookie, ceiling_token = csrf_pair(port, "/bench/form-insert/")
        fields = complaint(run_id)
        form_load(port, "/support/", fields, cookie, token, seconds=3)  # warm up both
        form_load(port, "/bench/form-insert/", fields, ceiling_cookie, ceiling_token, seconds=3)
        ours = form_load(port, "/support/", fields, cookie, token, seconds=SECONDS)
        ceiling = form_load(port, "/bench/form-insert/", fields, ceiling_cookie, ceiling_token, seconds=SECONDS)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for label, result in (("/support/", ours), ("CSRF form, one INSERT (ceiling)", ceiling)):
        report.say(
            f"  {label}: {result['requests_per_second']:.0f} posts/s, p50 {result['p50_ms']:.0f} ms,"
            f" p99 {result['p99_ms']:.0f} ms, statuses {result['statuses']}"
        )
    ratio = ours["requests_per_second"] / ceiling["requests_per_second"]
    report.figure("support_form_ratio", ratio, f"  ratio: {ratio:.2f}")
    report.figures["support_form_rps"] = ours["requests_per_second"]
    report.figures["support_form_p99_ms"] = ours["p99_ms"]
    report.figures["support_form_ceiling_rps"] = ceiling["requests_per_second"]
    report.say(f"  removed the {_clean(run_id):,} tickets the run made")


# --- The real processes -------------------------------------------------------------------


class Processes:
    def __init__(self, env: dict):
        self.env = env
        self.started: list[subprocess.Popen] = []
        self.logs = Path(ROOT / "var" / "bench")
        self.logs.mkdir(parents=True, exist_ok=True)

    def celery(self, name: str, *args: str) -> None:
        log = self.logs / f"{name}.log"
        log.write_text("")
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "retention_crm", *args, "--loglevel", "WARNING" if "beat" in args else "INFO"],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        if args[0] == "worker":
            deadline = time.monotonic() + 90
            while " ready." not in log.read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)

    def stop(self) -> None:
        for process in self.started:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)


def _why_not_arrived(addresses: list[str]) -> list[str]:
    """What became of the acknowledgments that did not reach the sink in time: their
    rows say whether a send failed (and will be retried) or no delivery was attempted
    (the outbox sweep queues the row again OUTBOX_REQUEUE_AFTER_SECONDS after it was
    written), and the broker what is still queued or reserved."""
    if not addresses:
        return []
    from retention_crm.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        lines = [f"the mail queue holds {client.llen('mail')} task(s), {client.hlen('unacked')} unacknowledged"]
        # kombu keeps each message a worker has taken but not acknowledged in the
        # "unacked" hash: which task it is and its arguments tell whether a missing
        # acknowledgment's task is still held by a worker that never ran it.
        for raw in client.hvals("unacked"):
            payload = json.loads(raw)[0]
            headers = payload.get("headers", {})
            lines.append(f"unacknowledged: {headers.get('task')} {headers.get('argsrepr', '')[:200]}")
    rows = list(
        Message.objects.filter(kind="ticket_ack", to_email__in=addresses).values_list(
            "pk", "to_email", "delivery", "attempts", "last_error", "created_at", "next_attempt_at"
        )
    )
    for _pk, address, delivery, attempts, error, created, next_attempt in rows:
        line = f"{address}: {delivery}, {attempts} attempt(s), written {created:%H:%M:%S}"
        if next_attempt:
            line += f", next attempt {next_attempt:%H:%M:%S}"
        if error:
            line += f", last error {error[:200]!r}"
        lines.append(line)
    ids = [row[0] for row in rows]
    lines.append(f"their rows: {ids}; the mailer log names them: {_mailer_log_mentions(ids)}")
    return lines


def _mailer_log_mentions(ids: list[int]) -> list[str]:
    """The mailer's log lines that name any of these rows (a delivery that passed them
    over says so)."""
    log = ROOT / "var" / "bench" / "latency-mailer.log"
    wanted = {str(pk) for pk in ids}
    return [
        line.strip()[:300]
        for line in log.read_text().splitlines()
        if wanted & set(re.findall(r"\d+", line.partition("]")[2]))
    ]


def run_latency(report) -> None:
    report.say(
        f"\n## From a form post to the acknowledgment at an SMTP sink, {RATE} tickets/s for {LATENCY_SECONDS} s"
        f" after {WARM_UP_SECONDS} s of warm-up (gunicorn 4 workers; a worker, a mailer of 2 processes and beat)"
    )
    sink = Sink()
    controller, smtp_port = sink.start()
    run_id = f"{int(time.time())}"
    env = {
        **os.environ,
        **NO_LIMITS,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR": "100",
    }
    os.environ.update({key: env[key] for key in (*NO_LIMITS, "EMAIL_URL")})
    port = free_port()
    processes = Processes(env)
    server = start_gunicorn(port)
    try:
        # Logs of their own (var/bench/latency-*.log): the mail run after this one
        # starts a mailer too.
        processes.celery(
            "latency-worker", "worker", "--queues", "celery", "--concurrency", "1", "-n", "bench-worker@%h"
        )
        processes.celery("latency-mailer", "worker", "--queues", "mail", "--concurrency", "2", "-n", "bench-mailer@%h")
        processes.celery("latency-beat", "beat", "--schedule", str(processes.logs / "beat-schedule"))
        cookie, token = csrf_pair(port, "/support/")
        fields = complaint(run_id)
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        statuses: dict[int, int] = {}

        async def post_at(number: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            values = {**fields(number), "csrfmiddlewaretoken": token}
            sent[values["email"]] = time.perf_counter()
            status = await post(
                "127.0.0.1",
                port,
                "/support/",
                urllib.parse.urlencode(values).encode(),
                {"Cookie": f"csrftoken={cookie}"},
                FORM,
            )
            answered[values["email"]] = time.perf_counter()
            statuses[status] = statuses.get(status, 0) + 1

        async def open_loop(first: int, total: int):
            start = time.perf_counter() + 0.5
            await asyncio.gather(*(post_at(first + number, start + number / RATE) for number in range(total)))

        # A warm-up of WARM_UP_SECONDS at the same rate, not counted: each gunicorn
        # worker's first requests (its first connections to PostgreSQL and Redis) and
        # beat's start took over 0.5 s for the first 45-156 posts of a run without it.
        warm_up = RATE * WARM_UP_SECONDS
        asyncio.run(open_loop(10**6, warm_up))
        for measured in (sent, answered, statuses):
            measured.clear()
        asyncio.run(open_loop(0, RATE * LATENCY_SECONDS))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(address in sink.arrivals for address in sent):
            time.sleep(0.5)
        latencies = sorted(
            sink.arrivals[address] - moment for address, moment in sent.items() if address in sink.arrivals
        )
        late = _why_not_arrived([address for address in sent if address not in sink.arrivals])
    finally:
        processes.stop()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        controller.stop()
    lost = len(sent) - len(latencies)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    report.figure(
        "ack_latency_p99_s",
        p99,
        f"  {len(sent):,} posts ({statuses}), {len(latencies):,} acknowledgments, {lost} missing;"
        f" latency p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s, max {latencies[-1]:.2f} s",
    )
    for line in late:
        report.say(f"  not arrived: {line}")
    report.figures["ack_latency_p50_s"] = statistics.median(latencies)
    posts = sorted(answered[address] - moment for address, moment in sent.items())
    after = sorted(sink.arrivals[address] - answered[address] for address in sent if address in sink.arrivals)
    post_p99, after_p99 = posts[int(len(posts) * 0.99)], after[int(len(after) * 0.99)]
    report.say(
        f"  of which the POST itself: p50 {statistics.median(posts):.2f} s, p99 {post_p99:.2f} s;"
        f" from its answer to the SMTP sink: p50 {statistics.median(after):.2f} s, p99 {after_p99:.2f} s"
    )
    # When the slow POSTs were sent tells a cold start (all at the beginning) from a
    # stall in the middle of the run.
    first = min(sent.values())
    slow = sorted(moment - first for address, moment in sent.items() if answered[address] - moment > 0.5)
    if slow:
        report.say(
            f"  {len(slow)} POST(s) took over 0.5 s, sent {slow[0]:.1f}-{slow[-1]:.1f} s into the run"
            f" ({sum(offset < 5 for offset in slow)} in its first 5 s)"
        )
    report.say(f"  removed the {_clean(run_id):,} tickets the run made")


def run_mail(report) -> None:
    report.say(f"\n## Mail delivery: {MAILS:,} acknowledgments, two worker processes, a local SMTP sink")
    ensure_tickets(report)  # the acknowledgments are of the tickets suite's tickets
    sink = Sink()
    controller, smtp_port = sink.start()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}"}
    processes = Processes(env)
    run_id = f"{int(time.time())}"
    try:
        processes.celery("mailer", "worker", "--queues", "mail", "--concurrency", "2", "-n", "bench-mailer@%h")
        tickets = list(Ticket.objects.select_related("customer").order_by("id")[:MAILS])
        if len(tickets) < MAILS:
            raise RuntimeError(f"The mail run needs {MAILS:,} tickets; the database has {len(tickets):,}")
        with transaction.atomic():
            emails_write(
                [
                    email(
                        kind="ticket_ack",
                        to_email=f"mail{run_id}.{number}@bench.example",
                        language=("en", "da", "ru", "ko", "zh-hans")[number % 5],
                        key=f"bench:mail:{run_id}:{number}",
                        context={"resolve_by": ticket.resolve_by.isoformat() if ticket.resolve_by else None},
                        customer=ticket.customer,
                        ticket=ticket,
                    )
                    for number, ticket in enumerate(tickets)
                ]
            )
            started = time.perf_counter()  # the deliveries are queued as this commits
        deadline = time.monotonic() + 300
        while sink.count < len(tickets) and time.monotonic() < deadline:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        processes.stop()
        controller.stop()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM customers_message WHERE key LIKE %s", [f"bench:mail:{run_id}:%"])
            cursor.execute(
                "DELETE FROM feedback_ticketaccess WHERE created_at > now() - interval '1 hour'"
                " AND ticket_id IN (SELECT id FROM feedback_ticket ORDER BY id LIMIT %s)",
                [MAILS],
            )
    rate = sink.count / seconds
    report.figure(
        "mail_per_second",
        rate,
        f"  {sink.count:,} of {len(tickets):,} delivered in {seconds:.1f} s: {rate:.0f} emails/s"
        " (each written out at delivery: templates in its language, a new personal link)",
    )


def run(report) -> None:
    run_form(report)
    run_latency(report)
    run_mail(report)
