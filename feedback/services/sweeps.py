"""What beat's sweep does for tickets and reminders (DESIGN.md, mechanism 1).

Each sweep claims due rows in batches with SELECT … FOR UPDATE SKIP LOCKED, acts, and
moves or clears the row's deadline in the same transaction: two sweeps at once split
the work between them, and a sweep killed halfway leaves the rest due for the next one.
Emails are outbox rows with unique keys, so nothing is sent twice either way.
"""

import logging
import time
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import Reminder, Ticket, TicketStatus
from . import emails, sla
from .tickets import _close

logger = logging.getLogger(__name__)

BATCH = 200
# A sweep stops after this long and leaves the rest to the next one, a minute later.
BUDGET_SECONDS = 40


def _act_on_deadlines(ticket: Ticket, now: datetime) -> None:
    """Send what is due for one ticket: warnings before deadlines, and at a missed
    resolution deadline the follow-up with a new date and the escalation."""
    if ticket.first_responded_at is None and ticket.acknowledge_by is not None:
        if not ticket.response_warned:
            warn_at = sla.warn_at(ticket.acknowledge_by, ticket)
            if warn_at is None or warn_at <= now:
                ticket.response_warned = True
                if warn_at is not None and now < ticket.acknowledge_by:
                    emails.warn_staff(ticket, which="response", deadline=ticket.acknowledge_by)
        if not ticket.first_response_breached and ticket.acknowledge_by <= now:
            ticket.first_response_breached = True
    if ticket.resolve_by is not None:
        if not ticket.resolution_warned:
            warn_at = sla.warn_at(ticket.resolve_by, ticket)
            if warn_at is None or warn_at <= now:
                ticket.resolution_warned = True
                if warn_at is not None and now < ticket.resolve_by:
                    emails.warn_staff(ticket, which="resolution", deadline=ticket.resolve_by)
        if ticket.resolve_by <= now:
            # Missed. One follow-up per missed date, dated from now: a sweep that was
            # down for days sends one, not one per interval it slept through.
            ticket.escalation_level += 1
            ticket.resolution_breached = True
            sla.set_resolution_deadline(ticket, sla.follow_up_deadline(ticket, now), now)
            ticket.told_resolve_by = ticket.resolve_by
            emails.send_follow_up(ticket)
            emails.escalate_to_staff(ticket)
    sla.schedule(ticket)


def _batches(claim, act, *, now: datetime | None, batch: int) -> int:
    started = time.monotonic()
    done = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            rows = list(claim(moment)[:batch])
            for row in rows:
                act(row, moment)
        done += len(rows)
        if len(rows) < batch or time.monotonic() - started > BUDGET_SECONDS:
            return done


def ticket_sla_sweep(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Act on every ticket whose next warning or breach is due. Returns how many."""

    def claim(moment):
        return (
            Ticket.objects.sla_due(moment)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "policy__calendar", "assignee", "team")
            .order_by("sla_due_at")
        )

    def act(ticket, moment):
        _act_on_deadlines(ticket, moment)
        ticket.save()

    return _batches(claim, act, now=now, batch=batch)


def ticket_autoclose_sweep(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Close resolved tickets nobody wrote to for TICKET_AUTO_CLOSE_DAYS."""

    def claim(moment):
        return Ticket.objects.close_due(moment).select_for_update(skip_locked=True).order_by("close_at")

    def act(ticket, moment):
        if ticket.status == TicketStatus.RESOLVED:
            _close(ticket, moment)
        else:
            ticket.close_at = None
        ticket.save()

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

    def act(reminder, moment):
        if reminder.done_at is None:
            emails.remind(reminder)
            reminder.reminded_at = moment
        reminder.remind_at = None
        reminder.save(update_fields=["remind_at", "reminded_at"])

    return _batches(claim, act, now=now, batch=batch)
