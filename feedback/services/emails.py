"""The emails about tickets: what each says, to whom, under which unique key, and when
a pending one is no longer wanted (checked again right before it is sent).

Customer emails go out in the ticket's language (the language the customer wrote in)
with dates in the customer's time zone; staff emails in STAFF_LANGUAGE. Every email
about a ticket carries a fresh personal link to the ticket's page.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import formats, timezone, translation

from customers.models import Entry, Message
from customers.outbox import email_create, reason_check, render_email

from .. import business_time
from ..models import Reminder, Ticket, TicketAccess

MANAGER_GROUP = "Support manager"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ticket_link(ticket: Ticket) -> str:
    """A new personal link to the ticket's page (256 random bits; only the hash is kept)."""
    token = secrets.token_urlsafe(32)
    TicketAccess.objects.create(
        ticket=ticket,
        token_hash=token_hash(token),
        expires_at=timezone.now() + timedelta(days=settings.TICKET_LINK_DAYS),
    )
    return settings.SITE_URL + reverse("support-ticket", args=[token])


# A date in full with its weekday, as each language writes it (Django's own
# DATETIME_FORMAT abbreviates: "Nov. 26, 2026, 9 a.m.").
MOMENT_FORMATS = {
    "en": "l, F j, Y, H:i",
    "da": r"l j. F Y \k\l. H:i",
    "ru": "j E Y, H:i",  # no weekday: it would need the genitive after "до"
    "ko": "Y년 n월 j일 l H:i",
    "zh-hans": "Y年n月j日 l H:i",
}


def format_moment(moment: datetime | None, *, zone: str, language: str) -> str:
    """A date and time as the reader reads them: their language, their time zone."""
    if moment is None:
        return ""
    with translation.override(language):
        local = timezone.localtime(moment, ZoneInfo(zone))
        return f"{formats.date_format(local, MOMENT_FORMATS.get(language, 'DATETIME_FORMAT'))} ({zone})"


def _ack_message_id(ticket: Ticket) -> str:
    return Message.objects.filter(key=f"ticket:{ticket.pk}:ack").values_list("message_id", flat=True).first() or ""


def _to_customer(ticket: Ticket, kind: str, key: str | None, context: dict, *, author=None) -> Message | None:
    customer = ticket.customer
    if not customer.email:
        return None  # a ticket logged from a phone call with no address: nothing to send
    language = ticket.language
    context = {
        "ticket": ticket,
        "reference": ticket.reference,
        "customer_name": customer.name,
        "link": ticket_link(ticket),
        **context,
    }
    rendered = render_email(kind, context, language=language)
    message, _created = email_create(
        kind=kind,
        to_email=customer.email,
        rendered=rendered,
        language=language,
        key=key,
        customer=customer,
        ticket=ticket,
        author=author,
        automatic=author is None,
        in_reply_to="" if kind == "ticket_ack" else _ack_message_id(ticket),
    )
    return message


def _customer_date(ticket: Ticket, moment: datetime | None) -> str:
    return format_moment(moment, zone=ticket.customer.time_zone, language=ticket.language)


def send_ack(ticket: Ticket, now: datetime) -> Message | None:
    """The promise: the reference, the expected resolution date, the link; outside
    business hours, when the team is back."""
    calendar = ticket.policy.business_calendar()
    back_at = None if business_time.is_open(now, calendar) else business_time.next_open(now, calendar)
    return _to_customer(
        ticket,
        "ticket_ack",
        f"ticket:{ticket.pk}:ack",
        {"resolve_by": _customer_date(ticket, ticket.resolve_by), "back_at": _customer_date(ticket, back_at)},
    )


def send_reply(ticket: Ticket, *, text: str, author, key: str | None) -> Message | None:
    return _to_customer(
        ticket, "ticket_reply", key, {"text": text, "author_name": author.get_short_name()}, author=author
    )


def send_date_changed(ticket: Ticket) -> Message | None:
    """Tell the customer the expected date moved (once per change; counted for the key)."""
    ticket.date_changes += 1
    return _to_customer(
        ticket,
        "ticket_date_changed",
        f"ticket:{ticket.pk}:date:{ticket.date_changes}",
        {"resolve_by": _customer_date(ticket, ticket.resolve_by)},
    )


def send_follow_up(ticket: Ticket) -> Message | None:
    return _to_customer(
        ticket,
        "ticket_follow_up",
        f"ticket:{ticket.pk}:follow_up:{ticket.escalation_level}",
        {"resolve_by": _customer_date(ticket, ticket.resolve_by)},
    )


def send_resolved(ticket: Ticket, *, text: str = "") -> Message | None:
    return _to_customer(
        ticket,
        "ticket_resolved",
        f"ticket:{ticket.pk}:resolved:{ticket.resolutions}",
        {"text": text, "close_days": settings.TICKET_AUTO_CLOSE_DAYS},
    )


# --- Staff --------------------------------------------------------------------------


def managers():
    return get_user_model().objects.filter(is_active=True, groups__name=MANAGER_GROUP).exclude(email="").order_by("pk")


def _responsible(ticket: Ticket) -> list[tuple[str, str]]:
    """Who looks after the ticket, as (recipient id, address): the assignee; else the
    team's address or members; else the managers."""
    if ticket.assignee_id and ticket.assignee.email and ticket.assignee.is_active:
        return [(f"user:{ticket.assignee_id}", ticket.assignee.email)]
    if ticket.team_id:
        if ticket.team.email:
            return [(f"team:{ticket.team_id}", ticket.team.email)]
        members = ticket.team.members.filter(is_active=True).exclude(email="").order_by("pk")
        if members:
            return [(f"user:{user.pk}", user.email) for user in members]
    return [(f"user:{user.pk}", user.email) for user in managers()]


def _to_staff(ticket: Ticket, kind: str, key: str, recipients: list[tuple[str, str]], context: dict) -> list[Message]:
    language = settings.STAFF_LANGUAGE
    context = {
        "ticket": ticket,
        "reference": ticket.reference,
        "customer": ticket.customer,
        "admin_url": settings.SITE_URL + reverse("admin:feedback_ticket_change", args=[ticket.pk]),
        **context,
    }
    rendered = render_email(kind, context, language=language)
    sent = []
    seen = set()
    for recipient, address in recipients:
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        message, _created = email_create(
            kind=kind,
            to_email=address,
            rendered=rendered,
            language=language,
            key=f"{key}:{recipient}",
            customer=ticket.customer,
            ticket=ticket,
            entry=Entry.STAFF,
            automatic=False,  # staff mail does not count toward the customer's hourly cap
        )
        sent.append(message)
    return sent


def _staff_date(moment: datetime) -> str:
    return format_moment(moment, zone=settings.TIME_ZONE, language=settings.STAFF_LANGUAGE)


def warn_staff(ticket: Ticket, *, which: str, deadline: datetime) -> list[Message]:
    """Before a breach: `which` is "response" (first answer) or "resolution"."""
    return _to_staff(
        ticket,
        "sla_warning",
        f"ticket:{ticket.pk}:warn:{which}:{ticket.escalation_level}",
        _responsible(ticket),
        {"which": which, "deadline": _staff_date(deadline)},
    )


def escalate_to_staff(ticket: Ticket) -> list[Message]:
    """After a missed resolution deadline: the assignee and every manager."""
    recipients = _responsible(ticket) if ticket.assignee_id else []
    recipients += [(f"user:{user.pk}", user.email) for user in managers()]
    return _to_staff(
        ticket,
        "ticket_escalated",
        f"ticket:{ticket.pk}:escalated:{ticket.escalation_level}",
        recipients,
        {"level": ticket.escalation_level, "resolve_by": _staff_date(ticket.resolve_by)},
    )


def remind(reminder: Reminder) -> Message | None:
    user = reminder.assignee
    if not user.email:
        return None
    language = settings.STAFF_LANGUAGE
    admin_url = settings.SITE_URL + reverse("admin:feedback_reminder_change", args=[reminder.pk])
    rendered = render_email(
        "agent_reminder",
        {
            "reminder": reminder,
            "customer": reminder.customer,
            "admin_url": admin_url,
            "due": _staff_date(reminder.due_at),
        },
        language=language,
    )
    message, _created = email_create(
        kind="agent_reminder",
        to_email=user.email,
        rendered=rendered,
        language=language,
        key=f"reminder:{reminder.pk}:{int(reminder.due_at.timestamp())}",
        customer=reminder.customer,
        ticket=reminder.ticket,
        entry=Entry.STAFF,
        automatic=False,
    )
    return message


# --- Is a pending email still wanted? (run under the row lock, right before sending) ---


def _ticket_of(message: Message) -> Ticket | None:
    return Ticket.objects.filter(pk=message.ticket_id).first() if message.ticket_id else None


@reason_check("ticket_follow_up", "ticket_date_changed", "ticket_escalated")
def _ticket_still_open(message: Message) -> str | None:
    ticket = _ticket_of(message)
    if ticket is None or not ticket.is_active:
        return "the ticket is no longer open"
    return None


@reason_check("sla_warning")
def _deadline_still_ahead(message: Message) -> str | None:
    ticket = _ticket_of(message)
    if ticket is None or not ticket.is_active:
        return "the ticket is no longer open"
    if ":warn:response:" in (message.key or "") and ticket.first_responded_at is not None:
        return "the customer has been answered"
    if ":warn:resolution:" in (message.key or "") and ticket.resolve_by is None:
        return "the ticket waits on the customer"
    return None


@reason_check("agent_reminder")
def _reminder_still_open(message: Message) -> str | None:
    reminder_id = int((message.key or "reminder:0").split(":")[1])
    reminder = Reminder.objects.filter(pk=reminder_id).first()
    if reminder is None or reminder.done_at is not None:
        return "the reminder is done"
    return None
