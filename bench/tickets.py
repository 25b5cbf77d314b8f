"""A million open tickets: the staff queue in the admin (default view and "breached"),
and one deadline sweep when a thousand of them are due.

The tickets are made in SQL once (kept between runs, like the orders): all active, as
a worst case for the queue, spread over the last two days; new tickets past their
first-answer hour count as breached. Before the sweep is timed, a thousand open tickets
are made due (their resolution date a minute ago); afterwards they are put back and the
emails the sweep wrote are removed.
"""

import time

from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Message
from feedback.models import SlaPolicy, Ticket
from feedback.services import ticket_sla_sweep

from .common import timings

TICKETS = 1_000_000
AGENTS = 20
DUE = 1_000
VERSION = f"t1:{TICKETS}:{AGENTS}"

TICKETS_SQL = """
INSERT INTO feedback_ticket (customer_id, order_reference, kind, channel, priority, status, subject, description,
    assignee_id, policy_id, language, escalation_level, created_at, updated_at, acknowledge_by, first_responded_at,
    first_response_seconds, first_response_breached, resolve_by, promised_by, told_resolve_by, paused_at, remaining,
    resolution_breached, response_warned, resolution_warned, sla_due_at, next_deadline_at, reopened_count,
    date_changes, resolutions)
SELECT customer_id, '', kind, 'web', 'normal', status, 'Bench ticket ' || n, 'Something went wrong.',
    CASE WHEN n % 5 = 0 THEN NULL ELSE (%(agents)s)[1 + n % %(agent_count)s] END,
    %(policy)s, 'en', 0, created, created,
    created + interval '1 hour',
    CASE WHEN status = 'new' THEN NULL ELSE created + interval '30 minutes' END,
    CASE WHEN status = 'new' THEN NULL ELSE 1800 END,
    status = 'new' AND created + interval '1 hour' < now(),
    CASE WHEN status = 'waiting' THEN NULL ELSE created + interval '3 days' END,
    created + interval '3 days', created + interval '3 days',
    CASE WHEN status = 'waiting' THEN created + interval '1 hour' END,
    CASE WHEN status = 'waiting' THEN interval '71 hours' END,
    false, true, false,
    CASE WHEN status = 'waiting' THEN NULL ELSE created + interval '3 days' - interval '4 hours' END,
    CASE WHEN status = 'waiting' THEN NULL
         WHEN status = 'new' THEN created + interval '1 hour'
         ELSE created + interval '3 days' END,
    0, 0, 0
FROM (
    SELECT n, c.id AS customer_id,
        (ARRAY['complaint', 'question', 'request', 'feedback'])[1 + n % 4] AS kind,
        CASE WHEN n % 10 < 2 THEN 'new' WHEN n % 10 = 9 THEN 'waiting' ELSE 'open' END AS status,
        now() - random() * interval '47 hours' - interval '5 minutes' AS created
    FROM generate_series(1, %(tickets)s) AS n
    JOIN customers_customer c ON c.external_id = 'B' || lpad((1 + n %% 1000000)::text, 7, '0')
) AS t
"""


def _made() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM bench_meta WHERE key = 'tickets'")
        row = cursor.fetchone()
    return row[0] if row else None


def ensure(report) -> list[int]:
    agents = []
    for number in range(AGENTS):
        user, _ = User.objects.get_or_create(
            username=f"bench-agent-{number}", defaults={"is_staff": True, "email": f"agent{number}@bench.example"}
        )
        agents.append(user.pk)
    manager, _ = User.objects.get_or_create(
        username="bench-manager", defaults={"is_staff": True, "email": "manager@bench.example"}
    )
    manager.groups.add(Group.objects.get(name="Support manager"))
    if _made() == VERSION:
        report.say(f"Tickets {VERSION} present: {Ticket.objects.count():,}.")
        return agents
    report.say(f"Making {TICKETS:,} open tickets; this takes a minute or two.")
    started = time.perf_counter()
    policy = SlaPolicy.objects.get(is_default=True).pk
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE feedback_ticket CASCADE")
        sql = TICKETS_SQL.replace("%(agents)s", "ARRAY[" + ",".join(map(str, agents)) + "]")
        sql = sql.replace("%(agent_count)s", str(len(agents))).replace("%(policy)s", str(policy))
        cursor.execute(sql.replace("%(tickets)s", str(TICKETS)).replace("%%", "%"))
        cursor.execute("VACUUM ANALYZE feedback_ticket")
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('tickets', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [VERSION],
        )
    report.say(f"  made in {time.perf_counter() - started:.0f} s")
    return agents


QUEUE_PAGES = [
    ("default view (active tickets, nearest deadline first)", "/admin/feedback/ticket/"),
    ("breached", "/admin/feedback/ticket/?deadline=breached"),
    ("due within 4 hours", "/admin/feedback/ticket/?deadline=soon"),
    ("one agent's open tickets", "/admin/feedback/myticket/"),
    ("page 20 of the default view", "/admin/feedback/ticket/?p=20"),
]


def run_queue(report, agents: list[int]) -> None:
    report.say(f"\n## The staff queue in the admin, {Ticket.objects.count():,} tickets (server time, in process)")
    user = User.objects.get(pk=agents[1])
    user.groups.add(Group.objects.get(name="Support agent"))
    client = Client()
    client.force_login(user)
    for label, url in QUEUE_PAGES:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        query_count = len(queries)
        assert response.status_code == 200, (url, response.status_code)
        measured = timings(lambda url=url: client.get(url), repeat=15)
        report.figure(
            f"queue:{label}",
            measured["median"],
            f"  {label}: median {measured['median'] * 1000:.0f} ms, p95 {measured['p95'] * 1000:.0f} ms,"
            f" {query_count} queries",
        )


def run_sweep(report) -> None:
    report.say(f"\n## One deadline sweep, {Ticket.objects.active().count():,} active tickets, {DUE:,} due")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_due AS SELECT id, resolve_by, sla_due_at, next_deadline_at FROM feedback_ticket"
            " WHERE status = 'open' ORDER BY id DESC LIMIT %s",
            [DUE],
        )
        cursor.execute(
            "UPDATE feedback_ticket t SET resolve_by = now() - interval '1 minute',"
            " sla_due_at = now() - interval '1 minute', next_deadline_at = now() - interval '1 minute',"
            " resolution_warned = true FROM bench_due d WHERE t.id = d.id"
        )
    with connection.cursor() as cursor:
        # Earlier runs leave dead row versions behind (this run's restore too); autovacuum
        # would clear them in time, the measurement should not wait on its luck.
        cursor.execute("VACUUM ANALYZE feedback_ticket")
        cursor.execute("VACUUM ANALYZE customers_message")
    messages_before = Message.objects.count()
    # The sweep runs inside a worker that has long been connected to the broker: open
    # this process's connection first, so that its cost is not counted.
    from customers.tasks import deliver_messages

    deliver_messages.apply_async(([],))
    try:
        started = time.perf_counter()
        swept = ticket_sla_sweep()
        seconds = time.perf_counter() - started
        assert swept == DUE, swept
        assert ticket_sla_sweep() == 0  # nothing left due
        written = Message.objects.count() - messages_before
        report.figure(
            "sweep_seconds",
            seconds,
            f"  the sweep: {seconds * 1000:.0f} ms for {DUE:,} due tickets ({written:,} emails written)",
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN SELECT id FROM feedback_ticket WHERE sla_due_at <= %s ORDER BY sla_due_at LIMIT 200",
                [timezone.now()],
            )
            plan = " ".join(row[0].strip() for row in cursor.fetchall())
        report.say(f"  plan of the claim: {plan[:160]}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM customers_message WHERE ticket_id IN (SELECT id FROM bench_due);"
                "DELETE FROM feedback_ticketaccess WHERE ticket_id IN (SELECT id FROM bench_due);"
                "UPDATE feedback_ticket t SET resolve_by = d.resolve_by, sla_due_at = d.sla_due_at,"
                " next_deadline_at = d.next_deadline_at, told_resolve_by = d.resolve_by, escalation_level = 0,"
                " resolution_breached = false, resolution_warned = false FROM bench_due d WHERE t.id = d.id;"
                "DROP TABLE bench_due"
            )
        _purge_queues()


def _purge_queues() -> None:
    """The sweep queued deliveries that no worker of this run will take."""
    from retention_crm.celery import app

    with app.connection_for_write() as conn:
        for queue in ("mail", "celery"):
            conn.default_channel.queue_purge(queue)


def run(report) -> None:
    agents = ensure(report)
    run_queue(report, agents)
    run_sweep(report)
