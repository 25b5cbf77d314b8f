"""Reminders: a call, meeting or follow-up planned with a customer. The reminder email
is a deadline row (`remind_at`) that the sweep acts on."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Entry
from customers.services import interaction_log

from ..models import Reminder, ReminderKind, Ticket

ENTRY_OF_KIND = {ReminderKind.CALL: Entry.CALL, ReminderKind.MEETING: Entry.MEETING, ReminderKind.FOLLOW_UP: Entry.NOTE}


def reminder_create(
    *,
    customer: Customer | None = None,
    ticket: Ticket | None = None,
    kind: str = ReminderKind.FOLLOW_UP,
    due_at: datetime,
    assignee,
    note: str = "",
    created_by=None,
) -> Reminder:
    if ticket is not None:
        if customer is not None and customer.pk != ticket.customer_id:
            raise ValidationError({"customer": _("The ticket belongs to another customer.")})
        customer = ticket.customer
    if customer is None:
        raise ValidationError({"customer": _("Choose a customer or a ticket.")})
    if kind not in ReminderKind.values:
        raise ValidationError({"kind": _("Choose a call, a meeting or a follow-up.")})
    if timezone.is_naive(due_at):
        raise ValidationError({"due_at": _("Give the due time with its time zone.")})
    return Reminder.objects.create(
        customer=customer,
        ticket=ticket,
        kind=kind,
        due_at=due_at,
        remind_at=due_at,
        assignee=assignee,
        note=note,
        created_by=created_by,
    )


def reminder_reschedule(*, reminder: Reminder, due_at: datetime) -> Reminder:
    """A new due time: the reminder email is sent again at that time."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
        if reminder.done_at is not None:
            raise ValidationError(_("This reminder is done."))
        reminder.due_at = due_at
        reminder.remind_at = due_at
        reminder.reminded_at = None
        reminder.save(update_fields=["due_at", "remind_at", "reminded_at"])
    return reminder


def reminder_done(*, reminder: Reminder, user, outcome: str = "") -> Reminder:
    """Mark it done; with an outcome, what happened goes on the customer's timeline."""
    now = timezone.now()
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update(of=("self",)).select_related("customer", "ticket").get(pk=reminder.pk)
        )
        if reminder.done_at is not None:
            return reminder
        reminder.done_at = now
        reminder.outcome = outcome
        reminder.remind_at = None
        reminder.save(update_fields=["done_at", "outcome", "remind_at"])
        if outcome.strip():
            interaction_log(
                customer=reminder.customer,
                entry=ENTRY_OF_KIND[reminder.kind],
                body=outcome,
                author=user,
                ticket=reminder.ticket,
                occurred_at=now,
            )
    return reminder
