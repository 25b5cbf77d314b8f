"""Everything that happens to a ticket. The admin, the API, the public pages, inbound
email and the sweep call these and nothing else writes tickets.

Each service runs in one transaction, locks the ticket row it changes (so a sweep, a
reply and a status change never act on the same ticket at once), and writes the
customer's emails as outbox rows in that same transaction.
"""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Channel, Customer, Delivery, Entry, Message, Order
from customers.services import customer_for_contact, interaction_log
from retention_crm.errors import Conflict

from ..models import (
    Priority,
    Reminder,
    Team,
    Ticket,
    TicketAccess,
    TicketChannel,
    TicketKind,
    TicketStatus,
)
from ..surveys import services as survey_services
from . import emails, sla

# Which status may follow which. Reopening is resolved -> open; a closed ticket is
# final (a customer who writes again gets a new ticket).
TRANSITIONS: dict[str, set[str]] = {
    TicketStatus.NEW: {TicketStatus.OPEN, TicketStatus.WAITING, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.OPEN: {TicketStatus.WAITING, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.WAITING: {TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.RESOLVED: {TicketStatus.OPEN, TicketStatus.CLOSED},
    TicketStatus.CLOSED: set(),
}

# Emails that lose their reason when a ticket is resolved or closed: cancelled in the
# same transaction (delivery checks again, for any that slip through).
OBSOLETE_WHEN_DONE = ("ticket_follow_up", "ticket_date_changed", "ticket_escalated", "sla_warning")


class TransitionError(Conflict):
    """A status change the ticket's status does not allow (HTTP 409 in the API)."""


def can_change_status(ticket: Ticket, status: str) -> bool:
    return status in TRANSITIONS[ticket.status]


def _check_transition(ticket: Ticket, status: str) -> None:
    if not can_change_status(ticket, status):
        raise TransitionError(
            _("A ticket in status “%(current)s” cannot move to “%(new)s”.")
            % {"current": TicketStatus(ticket.status).label, "new": TicketStatus(status).label}
        )


def _locked(ticket: Ticket) -> Ticket:
    """The ticket re-read under a row lock (the caller's copy may be stale)."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "policy__calendar", "assignee", "team")
        .get(pk=ticket.pk)
    )


def _order_for(customer: Customer, reference: str) -> Order | None:
    """The customer's order that the reference names; None for someone else's order or
    none at all (the reference is kept as written either way)."""
    reference = reference.strip()
    if not reference:
        return None
    return Order.objects.filter(external_id=reference, customer=customer).first()


def _subject_from(description: str, kind: str) -> str:
    first_line = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first_line) > 80:
        first_line = first_line[:79].rstrip() + "…"
    return first_line or str(TicketKind(kind).label)


def _validate_choice(value: str, choices, field: str) -> None:
    if value not in choices.values:
        raise ValidationError(
            {field: _("%(value)s is not one of: %(choices)s.") % {"value": value, "choices": ", ".join(choices.values)}}
        )


def ticket_open(
    *,
    email: str = "",
    customer: Customer | None = None,
    description: str,
    subject: str = "",
    name: str = "",
    kind: str = TicketKind.QUESTION,
    channel: str = TicketChannel.API,
    priority: str = Priority.NORMAL,
    order_reference: str = "",
    language: str = "",
    author=None,
    inbound_message_id: str = "",
    survey_consent: bool = False,
    key: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket for the customer with this email (found or created) or for
    `customer`, start its SLA clocks, put the customer's words on the timeline and
    write the acknowledgment, all in one transaction.

    `language` is the language the customer wrote in (the form's, say); the ticket's
    emails use it, else the customer's own. `survey_consent` is the customer's yes to
    a survey afterwards (a box on the form): it is recorded; a no withdraws nothing.
    `key` names the submission (the public form's, see `form_submission_key`): the
    same key again, even while the first is being written, gives the first's ticket
    and writes nothing, so a double-clicked form is one ticket and one acknowledgment.
    """
    _validate_choice(kind, TicketKind, "kind")
    _validate_choice(channel, TicketChannel, "channel")
    _validate_choice(priority, Priority, "priority")
    if not description.strip():
        raise ValidationError({"description": _("Write what it is about.")})
    if len(description) > 20000:
        raise ValidationError({"description": _("Keep it under 20,000 characters.")})
    languages = {code for code, _name in settings.LANGUAGES}
    now = now or timezone.now()
    key = key or _inbound_key(inbound_message_id)
    try:
        with transaction.atomic():
            new_customer = False
            if customer is None:
                if not email:
                    raise ValidationError({"customer_email": _("An email address is needed.")})
                customer, new_customer = customer_for_contact(email=email, name=name, locale=language)
            if survey_consent and not customer.survey_consent:
                customer.survey_consent = True
                customer.save(update_fields=["survey_consent", "updated_at"])
            ticket = Ticket(
                customer=customer,
                order=_order_for(customer, order_reference),
                order_reference=order_reference.strip()[:64],
                kind=kind,
                channel=channel,
                priority=priority,
                subject=(subject.strip() or _subject_from(description, kind))[:200],
                description=description,
                # A customer created a moment ago has no loyalty tier to look up.
                policy=sla.policy_for(kind=kind, priority=priority, customer_id=None if new_customer else customer.pk),
                language=language if language in languages else customer.locale,
                created_at=now,
                last_customer_message_at=now if author is None else None,
            )
            sla.start_clocks(ticket, now)
            ticket.save()
            Message.objects.create(
                customer=customer,
                ticket=ticket,
                entry=Entry.INBOUND,
                channel=Channel(channel),  # a ticket's channels are timeline channels, same values
                author=author,
                from_email=customer.email or "",
                subject=ticket.subject,
                body=description,
                message_id=inbound_message_id[:255],
                key=key,
                occurred_at=now,
            )
            emails.send_ack(ticket, now)
        return ticket
    except IntegrityError:
        # The message's unique key, taken by the same submission a moment before (the
        # insert waited for its commit): that ticket is the answer. The happy path
        # pays no query for this.
        earlier = Message.objects.filter(key=key).select_related("ticket").first() if key else None
        if earlier is None or earlier.ticket is None:
            raise
        return earlier.ticket


def _inbound_key(message_id: str) -> str | None:
    """Inbound emails are stored once, whatever the mail server retries."""
    if not message_id:
        return None
    return "inbound:" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def _record_first_response(ticket: Ticket, now: datetime) -> None:
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        ticket.first_response_seconds = max(int((now - ticket.created_at).total_seconds()), 0)
    if ticket.status == TicketStatus.NEW:
        ticket.status = TicketStatus.OPEN


def _tell_if_date_moved(ticket: Ticket) -> None:
    if ticket.resolve_by is None or ticket.told_resolve_by is None:
        return
    if abs(ticket.resolve_by - ticket.told_resolve_by) >= timedelta(minutes=1):
        ticket.told_resolve_by = ticket.resolve_by
        emails.send_date_changed(ticket)


class ReplyAfter(models.TextChoices):
    """What happens to the ticket once a reply is sent."""

    KEEP = "keep", gettext_lazy("Keep the status")
    WAIT = "wait", gettext_lazy("Wait on the customer")
    RESOLVE = "resolve", gettext_lazy("Resolve")


def ticket_reply(
    *, ticket: Ticket, text: str, author, after: str = ReplyAfter.KEEP, key: str | None = None
) -> Message | None:
    """A staff member answers the customer by email. The first answer stops the "answer
    within" clock. `after` may then set the ticket waiting on the customer or resolve it.
    `key` (a form's token) makes a double-submitted reply one email."""
    if not text.strip():
        raise ValidationError({"text": _("Write a reply.")})
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        if ticket.status == TicketStatus.CLOSED:
            raise TransitionError(_("This ticket is closed; open a new one to write to the customer."))
        earlier = Message.objects.filter(key=key).first() if key else None
        if earlier is not None:
            return earlier  # the same form sent twice
        if not ticket.customer.email:
            raise ValidationError({"text": _("This customer has no email address; log a call instead.")})
        _record_first_response(ticket, now)
        if after == ReplyAfter.RESOLVE:
            message = emails.send_reply(ticket, text=text, author=author, key=key)
            _resolve(ticket, now, text="", tell=True)
        else:
            if after == ReplyAfter.WAIT and ticket.status != TicketStatus.WAITING:
                _check_transition(ticket, TicketStatus.WAITING)
                ticket.status = TicketStatus.WAITING
                sla.pause(ticket, now)
            sla.schedule(ticket)
            message = emails.send_reply(ticket, text=text, author=author, key=key)
        ticket.save()
    return message


def ticket_note_add(*, ticket: Ticket, text: str, author, entry: str = Entry.NOTE, channel: str = Channel.PHONE):
    """An internal note, or a call or meeting with the customer (which counts as the
    first answer: a person talked to them)."""
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        message = interaction_log(
            customer=ticket.customer, entry=entry, body=text, author=author, channel=channel, ticket=ticket
        )
        if entry in (Entry.CALL, Entry.MEETING) and ticket.is_active:
            _record_first_response(ticket, now)
            sla.schedule(ticket)
            ticket.save()
    return message


def ticket_assign(*, ticket: Ticket, assignee=None, team: Team | None = None, keep_team: bool = True) -> Ticket:
    """Give the ticket to a person (and/or a team). Taking a new ticket opens it."""
    with transaction.atomic():
        ticket = _locked(ticket)
        if ticket.status == TicketStatus.CLOSED:
            raise TransitionError(_("A closed ticket cannot be reassigned."))
        ticket.assignee = assignee
        if team is not None or not keep_team:
            ticket.team = team
        if assignee is not None and ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
        ticket.save()
    return ticket


def ticket_order_set(*, ticket: Ticket, order: Order | None) -> Ticket:
    """Link the ticket to one of its customer's orders (or to none)."""
    if order is not None and order.customer_id != ticket.customer_id:
        raise ValidationError({"order": _("This order belongs to another customer.")})
    with transaction.atomic():
        ticket = _locked(ticket)
        ticket.order = order
        if order is not None:
            ticket.order_reference = order.external_id
        ticket.save()
    return ticket


def ticket_classify(*, ticket: Ticket, kind: str | None = None, priority: str | None = None) -> Ticket:
    """Change kind and/or priority. The matching policy may change, and the deadlines
    with it; the customer is told when the expected date moves."""
    if kind is not None:
        _validate_choice(kind, TicketKind, "kind")
    if priority is not None:
        _validate_choice(priority, Priority, "priority")
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        ticket.kind = kind or ticket.kind
        ticket.priority = priority or ticket.priority
        if ticket.is_active:
            policy = sla.policy_for(kind=ticket.kind, priority=ticket.priority, customer_id=ticket.customer_id)
            if policy.pk != ticket.policy_id:
                sla.change_policy(ticket, policy, now)
                _tell_if_date_moved(ticket)
        else:
            ticket.policy = sla.policy_for(kind=ticket.kind, priority=ticket.priority, customer_id=ticket.customer_id)
        ticket.save()
    return ticket


def _cancel_obsolete_emails(ticket: Ticket) -> None:
    Message.objects.filter(ticket=ticket, kind__in=OBSOLETE_WHEN_DONE, delivery=Delivery.PENDING).update(
        delivery=Delivery.CANCELLED, next_attempt_at=None, last_error="the ticket was resolved or closed"
    )


def _resolve(ticket: Ticket, now: datetime, *, text: str, tell: bool) -> None:
    _check_transition(ticket, TicketStatus.RESOLVED)
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = now
    if ticket.first_resolved_at is None:
        ticket.first_resolved_at = now
        ticket.resolution_seconds = max(int((now - ticket.created_at).total_seconds()), 0)
        ticket.promise_kept = ticket.promised_by is None or now <= ticket.promised_by
    ticket.resolve_by = None
    ticket.paused_at = None
    ticket.remaining = None
    ticket.close_at = now + timedelta(days=settings.TICKET_AUTO_CLOSE_DAYS)
    ticket.resolutions += 1
    sla.schedule(ticket)
    _cancel_obsolete_emails(ticket)
    if tell:
        emails.send_resolved(ticket, text=text)
    # Closing the loop: the CSAT survey about this ticket, or, for the recovery ticket of
    # an unhappy survey answer, the same survey again (both scheduled, sent by the sweep).
    survey_services.invitation_for_ticket_resolved(ticket=ticket, now=now)


def ticket_resolve(*, ticket: Ticket, text: str = "", tell_customer: bool = True) -> Ticket:
    """Resolve: the customer is told (with `text`, if any), the clocks stop, and the
    ticket closes itself after TICKET_AUTO_CLOSE_DAYS without a reply."""
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        _resolve(ticket, now, text=text, tell=tell_customer)
        ticket.save()
    return ticket


def _close(ticket: Ticket, now: datetime) -> None:
    _check_transition(ticket, TicketStatus.CLOSED)
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = now
    ticket.close_at = None
    ticket.resolve_by = None
    ticket.paused_at = None
    ticket.remaining = None
    sla.schedule(ticket)
    _cancel_obsolete_emails(ticket)


def ticket_close(*, ticket: Ticket) -> Ticket:
    """Close for good (a resolved ticket, or spam and duplicates straight away)."""
    with transaction.atomic():
        ticket = _locked(ticket)
        _close(ticket, timezone.now())
        ticket.save()
    return ticket


def _reopen(ticket: Ticket, now: datetime) -> None:
    _check_transition(ticket, TicketStatus.OPEN)
    ticket.status = TicketStatus.OPEN
    ticket.reopened_count += 1
    ticket.resolved_at = None
    ticket.close_at = None
    sla.restart_resolution(ticket, now)
    _tell_if_date_moved(ticket)


def ticket_wait(*, ticket: Ticket) -> Ticket:
    """Waiting on the customer: the resolution clock pauses."""
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        _check_transition(ticket, TicketStatus.WAITING)
        ticket.status = TicketStatus.WAITING
        sla.pause(ticket, now)
        ticket.save()
    return ticket


def _resume(ticket: Ticket, now: datetime) -> None:
    ticket.status = TicketStatus.OPEN
    sla.resume(ticket, now)
    _tell_if_date_moved(ticket)


def ticket_open_again(*, ticket: Ticket) -> Ticket:
    """Back to open: from waiting (the clock resumes) or from resolved (reopened, with a
    fresh resolution time)."""
    now = timezone.now()
    with transaction.atomic():
        ticket = _locked(ticket)
        if ticket.status == TicketStatus.WAITING:
            _resume(ticket, now)
        elif ticket.status == TicketStatus.RESOLVED:
            _reopen(ticket, now)
        else:
            _check_transition(ticket, TicketStatus.OPEN)
            ticket.status = TicketStatus.OPEN
        ticket.save()
    return ticket


STATUS_SERVICES = {
    TicketStatus.OPEN: ticket_open_again,
    TicketStatus.WAITING: ticket_wait,
    TicketStatus.RESOLVED: ticket_resolve,
    TicketStatus.CLOSED: ticket_close,
}


def ticket_status_change(*, ticket: Ticket, status: str) -> Ticket:
    if status not in STATUS_SERVICES:
        raise TransitionError(_("A ticket cannot be set to %(status)s.") % {"status": status})
    return STATUS_SERVICES[status](ticket=ticket)


def ticket_message_receive(
    *,
    ticket: Ticket,
    body: str,
    channel: str = Channel.WEB,
    subject: str = "",
    from_email: str = "",
    message_id: str = "",
    in_reply_to: str = "",
    key: str | None = None,
) -> tuple[Ticket, Message]:
    """The customer wrote again (their ticket page, or a reply by email).

    On an open ticket the message is added and a ticket waiting on the customer goes
    back to open, its clock resuming. A resolved ticket is reopened. A closed one stays
    closed: the message opens a new ticket, which is returned. `key` (the page form's,
    `form_submission_key`; an email's comes from its Message-ID) makes the same message
    sent twice one message.
    """
    if not body.strip():
        raise ValidationError({"body": _("Write a message.")})
    if len(body) > 20000:
        raise ValidationError({"body": _("Keep it under 20,000 characters.")})
    now = timezone.now()
    key = key or _inbound_key(message_id)
    with transaction.atomic():
        ticket = _locked(ticket)
        # Looked up after the lock: the same message sent twice at once waits for the
        # first to commit, and then sees it.
        existing = Message.objects.filter(key=key).select_related("ticket").first() if key else None
        if existing is not None:
            return existing.ticket, existing  # the same email delivered twice, the same form sent twice
        if ticket.status == TicketStatus.CLOSED:
            new = ticket_open(
                customer=ticket.customer,
                description=body,
                subject=subject or ticket.subject,
                kind=ticket.kind,
                channel=TicketChannel.EMAIL if channel == Channel.EMAIL else TicketChannel.WEB_FORM,
                priority=ticket.priority,
                language=ticket.language,
                inbound_message_id=message_id,
                key=key,
                now=now,
            )
            return new, Message.objects.filter(ticket=new, entry=Entry.INBOUND).latest("id")
        message = Message.objects.create(
            customer=ticket.customer,
            ticket=ticket,
            entry=Entry.INBOUND,
            channel=channel,
            from_email=from_email or ticket.customer.email or "",
            subject=subject[:300],
            body=body,
            message_id=message_id[:255],
            in_reply_to=in_reply_to[:998],
            key=key,
            occurred_at=now,
        )
        ticket.last_customer_message_at = now
        if ticket.status == TicketStatus.WAITING:
            _resume(ticket, now)
        elif ticket.status == TicketStatus.RESOLVED:
            _reopen(ticket, now)
        ticket.save()
    return ticket, message


# What erased text reads as (the subject cannot be empty).
ERASED_TEXT = "—"


def support_data_erase(*, customer_id: int) -> None:
    """The customer's personal data is being erased (customers.services.customer_erase):
    what they wrote in their tickets' subjects and descriptions goes, so do the links to
    their ticket pages and what staff wrote in reminders about them. The tickets and
    reminders themselves stay, for the service figures."""
    Ticket.objects.filter(customer_id=customer_id).update(subject=ERASED_TEXT, description="")
    TicketAccess.objects.filter(ticket__customer_id=customer_id).delete()
    Reminder.objects.filter(customer_id=customer_id).update(note="", outcome="")
