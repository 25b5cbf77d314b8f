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
from dataclasses import dataclass
from email.errors import MessageError
from email.utils import parseaddr

from anymail.exceptions import AnymailError
from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from customers.models import Channel, Customer, Entry, Message

from ..models import Ticket, TicketChannel, TicketKind, ticket_id_from_reference
from .tickets import _inbound_key, ticket_message_receive, ticket_open

logger = logging.getLogger(__name__)

SENDER_MAX_LENGTH = Customer._meta.get_field("email").max_length
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


# What reading a malformed email can raise: the email package's header parser and
# anymail's address parsing fail on broken addresses and message ids (IndexError,
# AttributeError, AnymailInvalidAddress…), and decoding a body on an unknown charset
# (LookupError; a UnicodeError is a ValueError). Found by fuzzing (feedback/tests/test_inbound.py).
UNREADABLE = (AnymailError, MessageError, IndexError, AttributeError, LookupError, ValueError, TypeError)


@dataclass(frozen=True)
class InboundEmail:
    """What filing an email needs, read once from the message, each part as well as a
    malformed message allows."""

    sender: str
    sender_name: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str
    references: str
    automatic: bool


def _raw_header(message: AnymailInboundMessage, name: str) -> str:
    """A header as sent (encoded words left as they are): when parsing it fails."""
    return next((str(value) for key, value in message.raw_items() if key.lower() == name.lower()), "")


def _header(message: AnymailInboundMessage, name: str) -> str:
    try:
        return str(message.get(name) or "").strip()
    except UNREADABLE:
        return _raw_header(message, name).strip()


def _sender(message: AnymailInboundMessage) -> tuple[str, str]:
    """The sender's address and name; a ValidationError when there is no usable one."""
    try:
        address = message.from_email
        if isinstance(address, list):
            address = address[0] if address else None
        name, sender = (address.display_name or "", address.addr_spec) if address else ("", "")
    except UNREADABLE:
        name, sender = parseaddr(_raw_header(message, "From"))
    try:
        validate_email(sender)
    except ValidationError:
        raise ValidationError(_("The email has no sender address.")) from None
    # Valid in form but longer than a customer's address can be (RFC 5321 allows 254):
    # refused here, or the insert fails and the mail server retries it forever.
    if len(sender) > SENDER_MAX_LENGTH:
        raise ValidationError(
            _("The sender's address is longer than %(limit)d characters.") % {"limit": SENDER_MAX_LENGTH}
        )
    return sender, name


def _body(message: AnymailInboundMessage) -> str:
    try:
        return message.text or strip_tags(message.html or "")
    except UNREADABLE:
        # A charset nobody knows: the text part's bytes as UTF-8, what cannot be read replaced.
        part = next((part for part in message.walk() if part.get_content_maintype() == "text"), None)
        payload = part.get_payload(decode=True) if part is not None else None
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def read_email(message: AnymailInboundMessage) -> InboundEmail:
    """The parts of the email, without NUL characters (mail may carry them; no database
    text can)."""
    sender, name = _sender(message)
    auto_submitted = (_header(message, "Auto-Submitted") or "no").lower()
    precedence = _header(message, "Precedence").lower()

    def text(value: str) -> str:
        return value.replace("\x00", "")

    return InboundEmail(
        sender=sender,
        sender_name=text(name),
        subject=text(_header(message, "Subject")),
        body=text(_body(message)),
        message_id=text(_header(message, "Message-ID")),
        in_reply_to=text(_header(message, "In-Reply-To")),
        references=text(_header(message, "References")),
        # Out-of-office and other automatic answers: never answered (no mail loops).
        automatic=auto_submitted != "no" or precedence in ("bulk", "junk", "auto_reply", "list"),
    )


def _thread(email: InboundEmail) -> Ticket | None:
    quoted = MESSAGE_IDS.findall(f"{email.in_reply_to} {email.references}")
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
    ticket_id = ticket_id_from_reference(email.subject)
    if ticket_id is not None:
        ticket = Ticket.objects.select_related("customer").filter(pk=ticket_id).first()
        if ticket is not None and (ticket.customer.email or "").lower() == email.sender.lower():
            return ticket
    return None


def email_receive(message: AnymailInboundMessage) -> Ticket | None:
    """File one inbound email. Returns the ticket it landed on, or None when it was an
    automatic answer (dropped). The same email received twice is stored once. A
    ValidationError says why an email cannot be filed (no sender, nothing in it)."""
    email = read_email(message)
    if email.automatic:
        logger.info("Dropped an automatic email from %s: %s", email.sender, email.subject)
        return None
    key = _inbound_key(email.message_id)
    if key:
        existing = Message.objects.filter(key=key).select_related("ticket").first()
        if existing is not None:
            return existing.ticket
    body = without_quote(email.body) or email.subject
    if not body:
        raise ValidationError(_("The email is empty."))
    ticket = _thread(email)
    if ticket is not None:
        ticket, _message = ticket_message_receive(
            ticket=ticket,
            body=body[:20000],
            channel=Channel.EMAIL,
            subject=email.subject,
            from_email=email.sender,
            message_id=email.message_id,
            in_reply_to=email.in_reply_to,
        )
        return ticket
    return ticket_open(
        email=email.sender,
        name=email.sender_name,
        description=body[:20000],
        subject=email.subject,
        kind=TicketKind.QUESTION,
        channel=TicketChannel.EMAIL,
        inbound_message_id=email.message_id,
    )


def on_anymail_inbound(sender, event, esp_name, **kwargs) -> None:
    """django-anymail's `inbound` signal: an email service posted an inbound email. One
    that cannot be filed (no sender address, nothing in it) is logged and accepted: with
    an error the service would post it again and again, hours apart."""
    try:
        email_receive(event.message)
    except ValidationError as refusal:
        logger.warning("Inbound email from %s not filed: %s", esp_name, " ".join(refusal.messages))
