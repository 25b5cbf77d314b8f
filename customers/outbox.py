"""The outbox: every email is a Message row first, delivered by a worker, re-queued by
the sweep until it is sent, given up on, or no longer wanted.

- `email_create` writes a pending row in the caller's transaction, with a unique key
  per cause (`ticket:42:ack`): a second one for the same cause is not created. Delivery
  is queued when the transaction commits.
- `message_deliver` (the worker) locks the row, checks that its reason still holds (a
  follow-up for a ticket resolved a second ago is cancelled, not sent), sends it with
  the Message-ID stored on the row, and marks it sent, all under that lock. A worker
  killed after the SMTP server took the message but before the commit leaves the row
  pending: it is sent again, once, with the same Message-ID, so the duplicate is
  recognisable. Two workers never send the same row at once (SKIP LOCKED).
- `outbox_sweep` (beat, every minute) re-queues pending rows whose next attempt is due:
  rows nobody delivered (the broker was down, a worker died) and failed attempts
  waiting for their retry. Retries back off exponentially with jitter; after
  OUTBOX_MAX_ATTEMPTS the row is marked failed and shows in the admin.
"""

import contextlib
import logging
import random
import smtplib
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import Customer, Delivery, Entry, Message

logger = logging.getLogger(__name__)

# kind -> function(message) returning why the message is no longer wanted, or None.
_REASON_CHECKS: dict[str, Callable[[Message], str | None]] = {}


def reason_check(*kinds: str):
    """Register the check that delivery runs, under the row lock, before sending a
    message of these kinds: it returns why the message is no longer wanted, or None."""

    def register(function: Callable[[Message], str | None]):
        for kind in kinds:
            _REASON_CHECKS[kind] = function
        return function

    return register


# --- Writing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_email(kind: str, context: dict, *, language: str) -> Rendered:
    """The templates emails/<kind>.subject.txt, .txt and .html, rendered in `language`."""
    context = {"site_url": settings.SITE_URL, "language": language, **context}
    with translation.override(language):
        subject = render_to_string(f"emails/{kind}.subject.txt", context)
        text = render_to_string(f"emails/{kind}.txt", context)
        html = render_to_string(f"emails/{kind}.html", context)
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def new_message_id() -> str:
    """A Message-ID nobody can guess: replies that quote it are threaded by it."""
    domain = settings.EMAIL_MESSAGE_ID_DOMAIN or urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def over_hourly_cap(address: str, now: datetime) -> bool:
    """Has this address had its share of automatic emails in the last hour? Keeps a
    stranger who types someone else's address into the contact form from flooding them."""
    cap = settings.AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR
    sent = Message.objects.filter(automatic=True, to_email=address, created_at__gte=now - timedelta(hours=1))
    return sent[: cap + 1].count() >= cap


def email_create(
    *,
    kind: str,
    to_email: str,
    rendered: Rendered,
    language: str,
    key: str | None,
    customer: Customer | None = None,
    ticket=None,
    entry: str = Entry.OUTBOUND,
    author=None,
    automatic: bool = True,
    in_reply_to: str = "",
) -> tuple[Message, bool]:
    """Write a pending email in the caller's transaction and queue its delivery for when
    that transaction commits. Returns (message, created); with a key that exists, the
    existing message and False."""
    if key is not None:
        existing = Message.objects.filter(key=key).first()
        if existing is not None:
            return existing, False
    now = timezone.now()
    address = to_email.strip().lower()
    message = Message(
        customer=customer,
        ticket=ticket,
        entry=entry,
        kind=kind,
        channel="email",
        author=author,
        automatic=automatic,
        from_email=_address_of(settings.DEFAULT_FROM_EMAIL),
        to_email=address,
        subject=rendered.subject,
        body=rendered.text,
        body_html=rendered.html,
        language=language,
        key=key,
        delivery=Delivery.PENDING,
        next_attempt_at=now + timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS),
        message_id=new_message_id(),
        in_reply_to=in_reply_to,
        occurred_at=now,
    )
    if automatic and over_hourly_cap(address, now):
        message.delivery = Delivery.SUPPRESSED
        message.next_attempt_at = None
        message.last_error = "hourly cap of automatic emails to this address reached"
        logger.warning("Not sending %s to %s: hourly cap reached", kind, address)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # The same cause raced us to it: the unique key kept it to one message.
        existing = Message.objects.filter(key=key).first() if key else None
        if existing is None:
            raise
        return existing, False
    if message.delivery == Delivery.PENDING:
        queue_delivery([message.pk])
    return message, True


def _address_of(value: str) -> str:
    from email.utils import parseaddr

    return parseaddr(value)[1]


def queue_delivery(message_ids: Iterable[int]) -> None:
    """Queue delivery of these messages once the current transaction commits.

    A broker that cannot be reached costs nothing but a log line: the rows stay pending
    and the sweep queues them again after OUTBOX_REQUEUE_AFTER_SECONDS.
    """
    ids = list(message_ids)
    if not ids:
        return

    def publish():
        from .tasks import deliver_message

        for number, message_id in enumerate(ids):
            try:
                deliver_message.apply_async((message_id,), retry=False)
            except Exception as exc:  # any broker failure; the sweep recovers
                logger.warning(
                    "Could not queue delivery of %d message(s) (%s); the outbox sweep will retry.",
                    len(ids) - number,
                    exc,
                )
                return

    transaction.on_commit(publish, robust=True)


# --- Delivering -------------------------------------------------------------------

_local = threading.local()


def _connection():
    """One open connection to the mail server per worker process (or thread): opening
    one per message would cost more than the message."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
        _local.connection = connection
    return connection


def _drop_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):  # it is being thrown away anyway
            connection.close()


def build_email(message: Message) -> EmailMultiAlternatives:
    headers = {"Message-ID": message.message_id, "X-CRM-Kind": message.kind}
    if message.automatic:
        # RFC 3834: auto-responders must not answer this (no mail loops with them).
        headers["Auto-Submitted"] = "auto-generated"
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
        headers["References"] = message.in_reply_to
    reply_to = [settings.SUPPORT_REPLY_TO] if settings.SUPPORT_REPLY_TO else None
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers=headers,
        reply_to=reply_to,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


class PermanentFailure(Exception):
    """The mail server refused the message for good (a 5xx answer)."""


def _send(email: EmailMultiAlternatives) -> None:
    for attempt in (1, 2):
        connection = _connection()
        try:
            connection.send_messages([email])
            return
        except smtplib.SMTPServerDisconnected:
            # A kept-open connection the server closed meanwhile: open a new one, once.
            _drop_connection()
            if attempt == 2:
                raise
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            codes = (
                [code for code, _text in exc.recipients.values()]
                if isinstance(exc, smtplib.SMTPRecipientsRefused)
                else [exc.smtp_code]
            )
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(str(exc)) from exc
            _drop_connection()
            raise
        except Exception:
            _drop_connection()
            raise


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: about base, 2×base, 4×base … capped; the jitter
    spreads retries of many messages that failed together."""
    base = settings.OUTBOX_RETRY_BASE_SECONDS
    seconds = min(base * 2 ** (attempts - 1), settings.OUTBOX_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.5, 1.5))  # jitter, not security


def message_deliver(message_id: int) -> str:
    """Send one pending email (the worker's task). Returns what happened: sent,
    cancelled, retry, failed, or skipped (sent already, or another worker has it)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True).filter(pk=message_id, delivery=Delivery.PENDING).first()
        )
        if message is None:
            return "skipped"
        check = _REASON_CHECKS.get(message.kind)
        reason = check(message) if check else None
        if reason:
            message.delivery = Delivery.CANCELLED
            message.next_attempt_at = None
            message.last_error = reason
            message.save(update_fields=["delivery", "next_attempt_at", "last_error"])
            logger.info("Cancelled %s (%s): %s", message.kind, message.key or message.pk, reason)
            return "cancelled"
        message.attempts += 1
        try:
            _send(build_email(message))
        except PermanentFailure as exc:
            message.delivery = Delivery.FAILED
            message.next_attempt_at = None
            message.last_error = str(exc)[:2000]
            message.save(update_fields=["delivery", "attempts", "next_attempt_at", "last_error"])
            logger.error("Mail server refused %s to %s for good: %s", message.kind, message.to_email, exc)
            return "failed"
        except Exception as exc:  # any transport error is retried later
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                message.delivery = Delivery.FAILED
                message.next_attempt_at = None
                logger.error(
                    "Giving up on %s to %s after %d attempts", message.kind, message.to_email, message.attempts
                )
            else:
                message.next_attempt_at = timezone.now() + retry_delay(message.attempts)
                logger.warning("Sending %s failed (%s); retrying at %s", message.pk, exc, message.next_attempt_at)
            message.save(update_fields=["delivery", "attempts", "next_attempt_at", "last_error"])
            return "failed" if message.delivery == Delivery.FAILED else "retry"
        message.delivery = Delivery.SENT
        message.sent_at = timezone.now()
        message.next_attempt_at = None
        message.last_error = ""
        message.save(update_fields=["delivery", "attempts", "sent_at", "next_attempt_at", "last_error"])
        return "sent"


def outbox_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Queue delivery of pending emails whose next attempt is due; returns how many.

    Each is given OUTBOX_REQUEUE_AFTER_SECONDS before it is due again, in the same
    transaction, so two sweeps at once never queue the same row (SKIP LOCKED), and a
    queued task that gets lost is queued again later.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.due_for_delivery(now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(
                next_attempt_at=now + timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
            )
            queue_delivery(ids)
    return len(ids)


def message_retry(*, message: Message) -> None:
    """Give a failed email another set of attempts (an admin action)."""
    Message.objects.filter(pk=message.pk, delivery=Delivery.FAILED).update(
        delivery=Delivery.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    queue_delivery([message.pk])
