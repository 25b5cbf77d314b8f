"""The emails about tickets: what each says, to whom, under which unique key, and when
a pending one is no longer wanted (checked again right before it is sent).

Automatic emails are outbox rows holding their context (the dates they announce, as
they were when the email was written); customers.outbox writes them out at delivery
with the renderers below, in the ticket's language (the language the customer wrote
in) and the customer's time zone, each with a fresh personal link to the ticket's page.
Staff get one email per sweep listing their tickets (a digest), in STAFF_LANGUAGE.
"""

import hashlib
import secrets
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from customers.models import Entry, Message
from customers.outbox import (
    email,
    email_write,
    name_kinds,
    reason_check,
    render_email,
    renderer,
    save_soon,
    unsubscribe_url,
)

from .. import business_time
from ..models import Reminder, Team, Ticket, TicketAccess

MANAGER_GROUP = "Support manager"
CUSTOMER_KINDS = ("ticket_ack", "ticket_date_changed", "ticket_follow_up", "ticket_resolved")
name_kinds(
    {
        "ticket_ack": _("Acknowledgment"),
        "ticket_reply": _("Reply"),
        "ticket_date_changed": _("New expected date"),
        "ticket_follow_up": _("Follow-up after a missed date"),
        "ticket_resolved": _("Resolved"),
        "sla_warning": _("Deadline warning (to staff)"),
        "ticket_escalated": _("Escalation (to staff)"),
        "agent_reminder": _("Reminder (to staff)"),
    }
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ticket_link(ticket: Ticket) -> str:
    """A new personal link to the ticket's page (256 random bits; only the hash is kept)."""
    token = secrets.token_urlsafe(32)
    save_soon(
        TicketAccess(
            ticket=ticket,
            token_hash=token_hash(token),
            expires_at=timezone.now() + timedelta(days=settings.TICKET_LINK_DAYS),
            created_at=timezone.now(),
        )
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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


# --- To the customer ----------------------------------------------------------------


def _to_customer(ticket: Ticket, kind: str, key: str, context: dict, *, thread_under: str = "") -> Message | None:
    """An automatic email about the ticket to its customer, not saved yet; None when the
    customer has no address (a ticket logged from a phone call)."""
    if not ticket.customer.email:
        return None
    return email(
        kind=kind,
        to_email=ticket.customer.email,
        language=ticket.language,
        key=key,
        context=context,
        customer=ticket.customer,
        ticket=ticket,
        in_reply_to=thread_under,
    )


def _ack_message_id(ticket: Ticket) -> str:
    return Message.objects.filter(key=f"ticket:{ticket.pk}:ack").values_list("message_id", flat=True).first() or ""


def _write(message: Message | None) -> Message | None:
    return email_write(message)[0] if message is not None else None


def send_ack(ticket: Ticket, now: datetime) -> Message | None:
    """The promise: the reference, the expected resolution date, the link; outside
    business hours, when the team is back."""
    calendar = ticket.policy.business_calendar()
    back_at = None if business_time.is_open(now, calendar) else business_time.next_open(now, calendar)
    return _write(
        _to_customer(
            ticket,
            "ticket_ack",
            f"ticket:{ticket.pk}:ack",
            {"resolve_by": _iso(ticket.resolve_by), "back_at": _iso(back_at)},
        )
    )


def send_reply(ticket: Ticket, *, text: str, author, key: str | None) -> Message | None:
    """What a staff member wrote, rendered at once: they see it in the conversation."""
    customer = ticket.customer
    context = {
        "ticket": ticket,
        "reference": ticket.reference,
        "customer_name": customer.name,
        "link": ticket_link(ticket),
        "text": text,
        "author_name": author.get_short_name(),
        "unsubscribe_url": unsubscribe_url(customer.email),
    }
    rendered = render_email("ticket_reply", context, language=ticket.language)
    message, _written = email_write(
        email(
            kind="ticket_reply",
            to_email=customer.email,
            language=ticket.language,
            key=key,
            rendered=rendered,
            customer=customer,
            ticket=ticket,
            author=author,
            automatic=False,
            in_reply_to=_ack_message_id(ticket),
        )
    )
    return message


def send_date_changed(ticket: Ticket) -> Message | None:
    """Tell the customer the expected date moved (once per change; counted for the key)."""
    ticket.date_changes += 1
    return _write(
        _to_customer(
            ticket,
            "ticket_date_changed",
            f"ticket:{ticket.pk}:date:{ticket.date_changes}",
            {"resolve_by": _iso(ticket.resolve_by)},
            thread_under=_ack_message_id(ticket),
        )
    )


def follow_up(ticket: Ticket) -> Message | None:
    """The follow-up after a missed date, with the new one (unsaved: the sweep writes a
    batch of them in one statement)."""
    return _to_customer(
        ticket,
        "ticket_follow_up",
        f"ticket:{ticket.pk}:follow_up:{ticket.escalation_level}",
        {"resolve_by": _iso(ticket.resolve_by)},
    )


def send_resolved(ticket: Ticket, *, text: str = "") -> Message | None:
    return _write(
        _to_customer(
            ticket,
            "ticket_resolved",
            f"ticket:{ticket.pk}:resolved:{ticket.resolutions}",
            {"text": text, "close_days": settings.TICKET_AUTO_CLOSE_DAYS},
            thread_under=_ack_message_id(ticket),
        )
    )


@renderer(*CUSTOMER_KINDS)
def _write_out_for_customer(message: Message) -> dict:
    # Two lookups by primary key: PostgreSQL plans them in microseconds, while planning
    # the join of tickets and customers (both with many indexes) takes milliseconds.
    ticket, customer = message.ticket, message.customer
    zone, language, values = customer.time_zone, message.language, message.context
    return {
        "ticket": ticket,
        "reference": ticket.reference,
        "customer_name": customer.name,
        "link": ticket_link(ticket),
        "resolve_by": format_moment(_moment(values.get("resolve_by")), zone=zone, language=language),
        "back_at": format_moment(_moment(values.get("back_at")), zone=zone, language=language),
        "text": values.get("text", ""),
        "close_days": values.get("close_days", settings.TICKET_AUTO_CLOSE_DAYS),
    }


# --- To staff: one email per person per sweep ---------------------------------------------


def managers() -> list:
    return list(
        get_user_model().objects.filter(is_active=True, groups__name=MANAGER_GROUP).exclude(email="").order_by("pk")
    )


class StaffDigests:
    """What a sweep tells staff, gathered per recipient and written as one email each:
    warnings before deadlines, and escalations after missed ones."""

    def __init__(self):
        self._managers = None
        self._members: dict[int, list] = {}  # team id -> members, read once per batch
        self._items: dict[tuple[str, str, str], list[dict]] = defaultdict(list)  # (kind, id, address) -> items

    def managers(self) -> list:
        if self._managers is None:
            self._managers = managers()
        return self._managers

    def members(self, team: Team) -> list:
        if team.pk not in self._members:
            self._members[team.pk] = list(team.members.filter(is_active=True).exclude(email="").order_by("pk"))
        return self._members[team.pk]

    def responsible(self, ticket) -> list[tuple[str, str]]:
        """Who looks after the ticket, as (recipient id, address): the assignee; else the
        team's address or members; else the managers."""
        if ticket.assignee_id and ticket.assignee.email and ticket.assignee.is_active:
            return [(f"user:{ticket.assignee_id}", ticket.assignee.email)]
        if ticket.team_id:
            if ticket.team.email:
                return [(f"team:{ticket.team_id}", ticket.team.email)]
            members = self.members(ticket.team)
            if members:
                return [(f"user:{user.pk}", user.email) for user in members]
        return [(f"user:{user.pk}", user.email) for user in self.managers()]

    def _add(self, kind: str, recipients, ticket: Ticket, **values) -> None:
        seen = set()
        for recipient, address in recipients:
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            self._items[(kind, recipient, address)].append({"ticket": ticket.pk, **values})

    def warn(self, ticket: Ticket, *, which: str, deadline: datetime) -> None:
        """Before a breach: `which` is "response" (first answer) or "resolution"."""
        self._add(
            "sla_warning",
            self.responsible(ticket),
            ticket,
            which=which,
            deadline=_iso(deadline),
            level=ticket.escalation_level,
        )

    def escalate(self, ticket: Ticket) -> None:
        """After a missed resolution date: the assignee and every manager."""
        recipients = self.responsible(ticket) if ticket.assignee_id else []
        recipients += [(f"user:{user.pk}", user.email) for user in self.managers()]
        self._add(
            "ticket_escalated",
            recipients,
            ticket,
            level=ticket.escalation_level,
            resolve_by=_iso(ticket.resolve_by),
        )

    def emails(self) -> list[Message]:
        batch = uuid.uuid4().hex[:12]
        return [
            email(
                kind=kind,
                to_email=address,
                language=settings.STAFF_LANGUAGE,
                key=f"{kind}:{recipient}:{batch}",
                context={"items": items},
                entry=Entry.STAFF,
                automatic=False,  # staff mail does not count toward a customer's hourly cap
                # Shown on the ticket's timeline when it is about one ticket.
                ticket=Ticket(pk=items[0]["ticket"]) if len(items) == 1 else None,
            )
            for (kind, recipient, address), items in self._items.items()
        ]


def _staff_date(moment: datetime | None) -> str:
    return format_moment(moment, zone=settings.TIME_ZONE, language=settings.STAFF_LANGUAGE)


def _still_relevant(item: dict, ticket: Ticket | None) -> bool:
    if ticket is None or not ticket.is_active:
        return False
    if item.get("which") == "response":
        return ticket.first_responded_at is None
    if item.get("which") == "resolution":
        return ticket.resolve_by is not None
    return True


def _digest_tickets(message: Message) -> list[tuple[dict, Ticket]]:
    items = message.context.get("items", [])
    tickets = Ticket.objects.select_related("customer").in_bulk([item["ticket"] for item in items])
    return [(item, tickets.get(item["ticket"])) for item in items if _still_relevant(item, tickets.get(item["ticket"]))]


@renderer("sla_warning", "ticket_escalated")
def _write_out_digest(message: Message) -> dict:
    rows = []
    for item, ticket in _digest_tickets(message):
        rows.append(
            {
                "ticket": ticket,
                "reference": ticket.reference,
                "customer": ticket.customer,
                "which": item.get("which"),
                "level": item.get("level"),
                "deadline": _staff_date(_moment(item.get("deadline"))),
                "resolve_by": _staff_date(_moment(item.get("resolve_by"))),
                "admin_url": settings.SITE_URL + reverse("admin:feedback_ticket_change", args=[ticket.pk]),
            }
        )
    return {"items": rows}


@reason_check("sla_warning", "ticket_escalated")
def _digest_still_wanted(message: Message) -> str | None:
    if not _digest_tickets(message):
        return "every ticket it was about is answered, resolved or closed"
    return None


def remind(reminder: Reminder) -> Message | None:
    """The reminder email to its assignee (unsaved)."""
    if not reminder.assignee.email:
        return None
    return email(
        kind="agent_reminder",
        to_email=reminder.assignee.email,
        language=settings.STAFF_LANGUAGE,
        key=f"reminder:{reminder.pk}:{int(reminder.due_at.timestamp())}",
        context={"reminder": reminder.pk, "due_at": _iso(reminder.due_at)},
        customer=reminder.customer,
        ticket=reminder.ticket,
        entry=Entry.STAFF,
        automatic=False,
    )


@renderer("agent_reminder")
def _write_out_reminder(message: Message) -> dict:
    reminder = Reminder.objects.select_related("customer").get(pk=message.context["reminder"])
    return {
        "reminder": reminder,
        "customer": reminder.customer,
        "due": _staff_date(reminder.due_at),
        "admin_url": settings.SITE_URL + reverse("admin:feedback_reminder_change", args=[reminder.pk]),
    }


# --- Is a pending email still wanted? (run under the row lock, right before sending) ---


def _ticket_of(message: Message) -> Ticket | None:
    """The ticket as delivery read it (under the message's lock, just now)."""
    return message.ticket if message.ticket_id else None


@reason_check("ticket_follow_up", "ticket_date_changed")
def _ticket_still_open(message: Message) -> str | None:
    ticket = _ticket_of(message)
    if ticket is None or not ticket.is_active:
        return "the ticket is no longer open"
    return None


@reason_check("agent_reminder")
def _reminder_still_open(message: Message) -> str | None:
    reminder = Reminder.objects.filter(pk=message.context.get("reminder")).first()
    if reminder is None or reminder.done_at is not None:
        return "the reminder is done"
    if _iso(reminder.due_at) != message.context.get("due_at"):
        return "the reminder was moved"
    return None
