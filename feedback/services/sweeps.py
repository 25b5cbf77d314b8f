"""What beat's sweep does for tickets and reminders (DESIGN.md, mechanism 1).

Each sweep claims due rows in batches with SELECT … FOR UPDATE SKIP LOCKED, acts, and
moves or clears the rows' deadlines in the same transaction: two sweeps at once split
the work between them, and a sweep killed halfway leaves the rest due for the next one.
Emails are outbox rows with unique keys, so nothing is sent twice either way.

A batch costs a fixed number of statements whatever its size. On PostgreSQL, tickets
whose policy has no business calendar are swept by set-based SQL (sweep_sql); the rest,
and every ticket elsewhere, by `_act_on_deadlines` below, the reference: one statement
to claim, one UPDATE … FROM unnest() for the tickets, one INSERT for all the emails
(written out later by the workers). Staff hear of their tickets in one email each.
"""

import logging
import time
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Delivery, Message
from customers.outbox import emails_write
from retention_crm.db import update_rows

from ..models import Reminder, SlaPolicy, Ticket, TicketStatus
from . import emails, sla, sweep_sql
from .tickets import OBSOLETE_WHEN_DONE

logger = logging.getLogger(__name__)

BATCH = 500
# The set-based sweep's batches (sweep_sql): its cost hardly depends on their size.
SQL_BATCH = 1000
# A sweep stops after this long and leaves the rest to the next one, a minute later.
BUDGET_SECONDS = 40

SLA_FIELDS = [
    "first_response_breached",
    "response_warned",
    "resolution_warned",
    "escalation_level",
    "resolution_breached",
    "resolve_by",
    "told_resolve_by",
    "sla_due_at",
    "next_deadline_at",
    "updated_at",
]


def _warning_due(ticket: Ticket, deadline: datetime, now: datetime, digests, *, which: str) -> bool:
    """Whether the warning before `deadline` is due (then the caller marks it given);
    sent only if the deadline is still ahead: after it, the breach speaks instead."""
    warn_at = sla.warn_at(deadline, ticket)
    if warn_at is not None and warn_at > now:
        return False
    if warn_at is not None and now < deadline:
        digests.warn(ticket, which=which, deadline=deadline)
    return True


def _act_on_deadlines(ticket: Ticket, now: datetime, digests: emails.StaffDigests, to_customers: list) -> None:
    """What is due for one ticket: warnings before deadlines, and at a missed
    resolution date the follow-up with a new date and the escalation."""
    if ticket.first_responded_at is None and ticket.acknowledge_by is not None:
        if not ticket.response_warned:
            ticket.response_warned = _warning_due(ticket, ticket.acknowledge_by, now, digests, which="response")
        if not ticket.first_response_breached and ticket.acknowledge_by <= now:
            ticket.first_response_breached = True
    if ticket.resolve_by is not None:
        if not ticket.resolution_warned:
            ticket.resolution_warned = _warning_due(ticket, ticket.resolve_by, now, digests, which="resolution")
        if ticket.resolve_by <= now:
            # Missed. One follow-up per missed date, dated from now: a sweep that was
            # down for days sends one, not one per interval it slept through.
            ticket.escalation_level += 1
            ticket.resolution_breached = True
            sla.set_resolution_deadline(ticket, sla.follow_up_deadline(ticket, now), now)
            ticket.told_resolve_by = ticket.resolve_by
            to_customers.append(emails.follow_up(ticket))
            digests.escalate(ticket)
    sla.schedule(ticket)
    ticket.updated_at = now


def _batches(claim, act, *, now: datetime | None, batch: int) -> int:
    started = time.monotonic()
    done = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            rows = list(claim(moment)[:batch])
            if rows:
                act(rows, moment)
        done += len(rows)
        if len(rows) < batch or time.monotonic() - started > BUDGET_SECONDS:
            return done


# What acting on a ticket's deadlines reads: only these columns are loaded (building
# whole rows of tickets, customers and users costs more than the rest of a sweep).
CLAIMED = [
    "status",
    "language",
    "customer__email",
    "assignee__email",
    "assignee__is_active",
    "team",
    "policy",
    "acknowledge_by",
    "first_responded_at",
    "paused_at",
    *SLA_FIELDS,
]


def _claim_due(moment: datetime):
    tickets = Ticket.objects.sla_due(moment)
    if connection.vendor == "postgresql":
        tickets = tickets.filter(policy__calendar__isnull=False)  # the others: sweep_sql
    return (
        tickets.select_for_update(skip_locked=True, of=("self",))
        .select_related("customer", "assignee")
        .only(*CLAIMED)
        .order_by("sla_due_at")
    )


def _sql_batches(*, now: datetime | None, batch: int) -> int:
    """The calendar-free tickets, set-based (PostgreSQL): see sweep_sql."""
    started = time.monotonic()
    done = 0
    while True:
        with transaction.atomic():
            count = sweep_sql.act_in_sql(now or timezone.now(), batch)
        done += count
        if count < batch or time.monotonic() - started > BUDGET_SECONDS:
            return done


def ticket_sla_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Act on every ticket whose next warning or breach is due. Returns how many."""

    def act(tickets, moment):
        # Policies (a handful) once per batch, with their calendars.
        policies = {policy.pk: policy for policy in SlaPolicy.objects.select_related("calendar")}
        digests = emails.StaffDigests()
        to_customers: list = []
        for ticket in tickets:
            ticket.policy = policies[ticket.policy_id]
            _act_on_deadlines(ticket, moment, digests, to_customers)
        update_rows(Ticket, tickets, SLA_FIELDS)
        emails_write([message for message in to_customers if message is not None] + digests.emails())

    if connection.vendor != "postgresql":
        return _batches(_claim_due, act, now=now, batch=batch or BATCH)
    done = _sql_batches(now=now, batch=batch or SQL_BATCH)
    # Policies change rarely (each process keeps them 30 s): a ticket can only have
    # moved to a calendar policy in that time if one existed then.
    if any(policy.calendar_id for policy in sla.policies_in_order()):
        done += _batches(_claim_due, act, now=now, batch=batch or BATCH)
    return done


def ticket_autoclose_sweep(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Close resolved tickets nobody wrote to for TICKET_AUTO_CLOSE_DAYS."""

    def claim(moment):
        return Ticket.objects.close_due(moment).select_for_update(skip_locked=True).order_by("close_at")

    def act(tickets, moment):
        ids = [ticket.pk for ticket in tickets]
        Ticket.objects.filter(pk__in=ids, status=TicketStatus.RESOLVED).update(
            status=TicketStatus.CLOSED,
            closed_at=moment,
            close_at=None,
            resolve_by=None,
            paused_at=None,
            remaining=None,
            sla_due_at=None,
            next_deadline_at=None,
            updated_at=moment,
        )
        Ticket.objects.filter(pk__in=ids).exclude(status=TicketStatus.CLOSED).update(close_at=None)
        Message.objects.filter(ticket_id__in=ids, kind__in=OBSOLETE_WHEN_DONE, delivery=Delivery.PENDING).update(
            delivery=Delivery.CANCELLED, next_attempt_at=None, last_error="the ticket was closed"
        )

    return _batches(claim, act, now=now, batch=batch)


def reminder_sweep(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Email the assignee of every reminder that has come due."""

    def claim(moment):
        return (
            Reminder.objects.filter(remind_at__lte=moment)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("assignee", "customer", "ticket")
            .order_by("remind_at")
        )

    def act(reminders, moment):
        messages = []
        for reminder in reminders:
            if reminder.done_at is None:
                messages.append(emails.remind(reminder))
                reminder.reminded_at = moment
            reminder.remind_at = None
        Reminder.objects.bulk_update(reminders, ["remind_at", "reminded_at"])
        emails_write([message for message in messages if message is not None])

    return _batches(claim, act, now=now, batch=batch)
