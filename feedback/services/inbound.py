"""Email from customers: replies to our emails land on their ticket, anything else opens
a new one. Reached from the `receive_email` command (a mail server's pipe) and from
django-anymail's inbound webhooks (an email service's), both with the same message
object.

Threading: a reply quotes one of our Message-IDs in In-Reply-To or References (random,
so unguessable), or names the ticket's reference in its subject and comes from the
ticket's customer. Anything else is a new ticket: knowing a reference is not enough to
write into someone else's ticket.
"""

import logging
import re

from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import ValidationError
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from customers.models import Channel, Entry, Message

from ..models import Ticket, TicketChannel, TicketKind, ticket_id_from_reference
from .tickets import _inbound_key, ticket_message_receive, ticket_open

logger = logging.getLogger(__name__)

MESSAGE_IDS = re.compile(r"<[^<>\s]+>")
# Where a mail client starts quoting the message being answered.
QUOTE_STARTS = re.compile(
    r"^(On .+ wrote:|Le .+ a écrit\s?:|Am .+ schrieb .+:|Den .+ skrev .+:|.+ написал\(?а?\)?:|"
    r"-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Oprindelig meddelelse\s*-{2,}|From: .+)\s*$",
    re.IGNORECASE,
)


def without_quote(text: str) -> str:
    """The new part of a reply: up to the quoted earlier message."""
    kept = []
    for line in text.splitlines():
        if line.startswith(">") or QUOTE_STARTS.match(line.strip()):
            break
        kept.append(line)
    new = "\n".join(kept).strip()
    return new or text.strip()


def is_automatic(message: AnymailInboundMessage) -> bool:
    """Out-of-office and other automatic answers: never answered (no mail loops)."""
    auto_submitted = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    return auto_submitted != "no" or precedence in ("bulk", "junk", "auto_reply", "list")


def _thread(message: AnymailInboundMessage, sender: str) -> Ticket | None:
    quoted = MESSAGE_IDS.findall(f"{message.get('In-Reply-To') or ''} {message.get('References') or ''}")
    if quoted:
        known = (
            Message.objects.filter(message_id__in=quoted[-20:], ticket__isnull=False)
            .exclude(entry=Entry.INBOUND)
            .select_related("ticket")
            .order_by("-id")
            .first()
        )
        if known is not None:
            return known.ticket
    ticket_id = ticket_id_from_reference(message.subject or "")
    if ticket_id is not None:
        ticket = Ticket.objects.select_related("customer").filter(pk=ticket_id).first()
        if ticket is not None and (ticket.customer.email or "").lower() == sender.lower():
            return ticket
    return None


def email_receive(message: AnymailInboundMessage) -> Ticket | None:
    """File one inbound email. Returns the ticket it landed on, or None when it was an
    automatic answer (dropped). The same email received twice is stored once."""
    sender_address = message.from_email
    if isinstance(sender_address, list):
        sender_address = sender_address[0] if sender_address else None
    sender = sender_address.addr_spec if sender_address else ""
    if not sender or "@" not in sender:
        raise ValidationError(_("The email has no sender address."))
    if is_automatic(message):
        logger.info("Dropped an automatic email from %s: %s", sender, message.subject)
        return None
    message_id = (message.get("Message-ID") or "").strip()
    key = _inbound_key(message_id)
    if key:
        existing = Message.objects.filter(key=key).select_related("ticket").first()
        if existing is not None:
            return existing.ticket
    subject = (message.subject or "").strip()
    body = message.text or strip_tags(message.html or "")
    body = without_quote(body or "") or subject
    if not body:
        raise ValidationError(_("The email is empty."))
    ticket = _thread(message, sender)
    if ticket is not None:
        ticket, _message = ticket_message_receive(
            ticket=ticket,
            body=body[:20000],
            channel=Channel.EMAIL,
            subject=subject,
            from_email=sender,
            message_id=message_id,
            in_reply_to=(message.get("In-Reply-To") or "").strip(),
        )
        return ticket
    return ticket_open(
        email=sender,
        name=sender_address.display_name or "",
        description=body[:20000],
        subject=subject,
        kind=TicketKind.QUESTION,
        channel=TicketChannel.EMAIL,
        inbound_message_id=message_id,
    )


def on_anymail_inbound(sender, event, esp_name, **kwargs) -> None:
    """django-anymail's `inbound` signal: an email service posted an inbound email."""
    email_receive(event.message)
