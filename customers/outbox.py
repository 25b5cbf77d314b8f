"""The outbox: every email is a Message row first, written out and delivered by a worker,
re-queued by the sweep until it is sent, given up on, or no longer wanted.

- `emails_write` inserts pending rows in the caller's transaction, in one statement
  however many: a key that exists already (`ticket:42:ack`) is skipped, so the same
  cause never writes a second email. Delivery is queued when the transaction commits.
- Automatic emails are stored with their context only and written out at delivery, in
  the recipient's language, by the renderer registered for their kind (a ticket email
  gets a fresh personal link then); the subject and text are stored on the row at that
  moment, so the timeline shows what was sent and a retry sends exactly the same.
- `message_deliver` (the worker) locks the row, checks that its reason still holds (a
  follow-up for a ticket resolved a second ago is cancelled, not sent), sends it with
  the Message-ID stored on the row, and marks it sent, all under that lock. A worker
  killed after the mail server took the message but before the commit leaves the row
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
from email.utils import parseaddr
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from psycopg.types.json import Jsonb

from retention_crm.db import Rows, binding_cursor, placeholders, rows_together, update_rows

from .models import Customer, Delivery, Entry, Message

logger = logging.getLogger(__name__)

# kind -> function(message) returning why the message is no longer wanted, or None.
_REASON_CHECKS: dict[str, Callable[[Message], str | None]] = {}
# kind -> function(message) returning the template context to write the email out with.
_RENDERERS: dict[str, Callable[[Message], dict]] = {}
# kind -> function(messages) reading, once per delivery chunk, what the checks and
# renderers of those messages need (and setting it on them).
_PREPARERS: dict[str, Callable[[list[Message]], None]] = {}
# What staff read for each kind (the messages' list, a ticket's conversation, the customer's
# timeline): an email is only written out when it is sent, so until then its kind is
# all there is to show.
_KIND_NAMES: dict[str, str] = {}
# Deliveries per task. A sweep publishes one task for up to PUBLISH_CHUNK emails; the
# worker that takes it splits it into tasks of DELIVERY_CHUNK, so that several workers
# share the sending and the sweep does not wait on many publishes.
DELIVERY_CHUNK = 20
PUBLISH_CHUNK = 1000


def reason_check(*kinds: str):
    """Register the check that delivery runs, under the row lock, before sending a
    message of these kinds: it returns why the message is no longer wanted, or None."""

    def register(function: Callable[[Message], str | None]):
        for kind in kinds:
            _REASON_CHECKS[kind] = function
        return function

    return register


def renderer(*kinds: str):
    """Register what writes out an email of these kinds: a function of the message
    returning the context of its templates (emails/<kind>.subject.txt, .txt, .html)."""

    def register(function: Callable[[Message], dict]):
        for kind in kinds:
            _RENDERERS[kind] = function
        return function

    return register


def name_kinds(names: dict[str, str]) -> None:
    """Register the names staff read for these kinds of email (lazy translations)."""
    _KIND_NAMES.update(names)


def kind_name(kind: str) -> str:
    """The name of a kind of email in the active language; the kind itself for one
    nobody named (and "" for a timeline entry that is not an email)."""
    return str(_KIND_NAMES.get(kind, kind))


def preparer(*kinds: str):
    """Register what reads, once for a whole delivery chunk, the rows that the checks and
    renderers of messages of these kinds need (one query per chunk, not per email)."""

    def register(function: Callable[[list[Message]], None]):
        for kind in kinds:
            _PREPARERS[kind] = function
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


@lru_cache(maxsize=8)
def _address(value: str) -> str:
    return parseaddr(value)[1]


def sender_address() -> str:
    """The bare address of DEFAULT_FROM_EMAIL, as stored on outgoing rows."""
    return _address(settings.DEFAULT_FROM_EMAIL)


def message_id_domain() -> str:
    return settings.EMAIL_MESSAGE_ID_DOMAIN or urlsplit(settings.SITE_URL).hostname or "localhost"


def new_message_id() -> str:
    """A Message-ID nobody can guess: replies that quote it are threaded by it."""
    return f"<{uuid.uuid4().hex}@{message_id_domain()}>"


def email(
    *,
    kind: str,
    to_email: str,
    language: str,
    key: str | None,
    context: dict | None = None,
    rendered: Rendered | None = None,
    customer: Customer | None = None,
    ticket=None,
    entry: str = Entry.OUTBOUND,
    author=None,
    automatic: bool = True,
    in_reply_to: str = "",
    send_at: datetime | None = None,
) -> Message:
    """A pending email, not saved yet (`emails_write` saves it). Either `rendered`
    (what a person typed, stored as it is) or `context` (written out at delivery by the
    kind's renderer). `send_at`: not before then (the outbox sweep queues it when due)."""
    now = timezone.now()
    return Message(
        customer=customer,
        ticket=ticket,
        entry=entry,
        kind=kind,
        channel="email",
        author=author,
        automatic=automatic,
        from_email=sender_address(),
        to_email=to_email.strip().lower(),
        subject=rendered.subject if rendered else "",
        body=rendered.text if rendered else "",
        body_html=rendered.html if rendered else "",
        context=context or {},
        language=language,
        key=key,
        delivery=Delivery.PENDING,
        next_attempt_at=send_at or now + timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS),
        message_id=new_message_id(),
        in_reply_to=in_reply_to,
        occurred_at=now,
    )


def _apply_hourly_cap(messages: list[Message], now: datetime) -> None:
    """At most AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR automatic emails to one address in
    an hour; the rest are kept as "not sent". Keeps a stranger who types someone else's
    address into the contact form from flooding them. One query for the whole batch."""
    cap = settings.AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR
    addresses = sorted({message.to_email for message in messages if message.automatic})
    if not addresses:
        return
    # Plain SQL on the partial index (to_email, created_at) WHERE automatic: the ORM's
    # compiling of this grouped query cost more than the query (about 1 ms a ticket).
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT to_email, count(*) FROM {table} WHERE automatic AND created_at >= %s"
            f" AND to_email IN ({placeholders(len(addresses))}) GROUP BY to_email",
            [connection.ops.adapt_datetimefield_value(now - timedelta(hours=1)), *addresses],
        )
        sent = dict(cursor.fetchall())
    for message in messages:
        if not message.automatic:
            continue
        if sent.get(message.to_email, 0) >= cap:
            message.delivery = Delivery.SUPPRESSED
            message.next_attempt_at = None
            message.last_error = "hourly cap of automatic emails to this address reached"
            logger.warning("Not sending %s to %s: hourly cap reached", message.kind, message.to_email)
        else:
            sent[message.to_email] = sent.get(message.to_email, 0) + 1


def emails_write(messages: list[Message]) -> list[Message]:
    """Save pending emails in the caller's transaction and queue their delivery for when
    it commits. A message whose key exists already is not written again: the returned
    list holds, in order, each message as stored (the earlier one for a known key), with
    `written` telling which are new."""
    if not messages:
        return []
    now = timezone.now()
    _apply_hourly_cap(messages, now)
    for message in messages:
        message.created_at = now
        message.written = False
    if connection.vendor == "postgresql":
        _insert_unnest(messages)
    else:
        _insert_orm(messages)
    known = [message.key for message in messages if not message.written and message.key]
    if known:
        stored = {row.key: row for row in Message.objects.filter(key__in=known)}
        for index, message in enumerate(messages):
            if not message.written and message.key in stored:
                messages[index] = stored[message.key]
                messages[index].written = False
    # Emails for later (a thank-you half an hour after the order) wait for the sweep.
    due_by = now + timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
    queue_delivery(
        message.pk
        for message in messages
        if message.written and message.delivery == Delivery.PENDING and message.next_attempt_at <= due_by
    )
    return messages


_INSERTED = [field for field in Message._meta.concrete_fields if not field.primary_key]
_JSON_COLUMNS = {index for index, field in enumerate(_INSERTED) if isinstance(field, models.JSONField)}


@lru_cache(maxsize=1)
def _insert_unnest_sql() -> str:
    """The statement of `_insert_unnest`, worked out once (every ticket writes an email:
    quoting the columns and asking each field its type cost more than the INSERT)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _INSERTED)
    unnest = ", ".join(f"%b::{field.db_type(connection).split('(')[0]}[]" for field in _INSERTED)
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) SELECT * FROM unnest({unnest})"
        f" ON CONFLICT DO NOTHING RETURNING {quote('id')}, {quote('message_id')}"
    )


def _insert_unnest(messages: list[Message]) -> None:
    """One INSERT … SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING for
    all the messages, returning the rows it wrote (matched back by their random
    Message-IDs). Values go to psycopg as they are: Django's bulk_create would first
    pass each through its field, a cost that dominates a sweep of a thousand emails."""
    arrays = []
    for index, field in enumerate(_INSERTED):
        values = [getattr(message, field.attname) for message in messages]
        if index in _JSON_COLUMNS:
            values = [Jsonb(value) for value in values]
        arrays.append(values)
    with binding_cursor() as cursor:
        cursor.execute(_insert_unnest_sql(), arrays)
        written = {message_id: pk for pk, message_id in cursor.fetchall()}
    for message in messages:
        if message.message_id in written:
            message.pk = written[message.message_id]
            message.written = True
            message._state.adding = False


def _insert_orm(messages: list[Message]) -> None:
    """The same on other databases (SQLite for `make run`), through the ORM."""
    keyless = [message for message in messages if not message.key]
    if keyless:
        Message.objects.bulk_create(keyless)
        for message in keyless:
            message.written = True
    keyed = [message for message in messages if message.key]
    if keyed:
        Message.objects.bulk_create(keyed, ignore_conflicts=True)
        ours = dict(
            Message.objects.filter(message_id__in=[message.message_id for message in keyed]).values_list(
                "message_id", "pk"
            )
        )
        for message in keyed:
            if message.message_id in ours:
                message.pk = ours[message.message_id]
                message.written = True
                message._state.adding = False


def email_write(message: Message) -> tuple[Message, bool]:
    """`emails_write` for one email: (the message as stored, whether it is new)."""
    (stored,) = emails_write([message])
    return stored, stored.written


def queue_delivery(message_ids: Iterable[int]) -> None:
    """Queue delivery of these messages once the current transaction commits, a chunk
    per task.

    A broker that cannot be reached costs nothing but a log line: the rows stay pending
    and the sweep queues them again after OUTBOX_REQUEUE_AFTER_SECONDS.
    """
    ids = list(message_ids)
    if not ids:
        return

    def publish():
        from .tasks import deliver_messages

        for start in range(0, len(ids), PUBLISH_CHUNK):
            try:
                deliver_messages.apply_async((ids[start : start + PUBLISH_CHUNK],), retry=False)
            except Exception as exc:  # any broker failure; the sweep recovers
                logger.warning(
                    "Could not queue delivery of %d message(s) (%s); the outbox sweep will retry.",
                    len(ids) - start,
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
        # Opened here, it stays open: a backend whose send_messages opens the connection
        # itself also closes it afterwards, a new SMTP conversation per email.
        connection.open()
        _local.connection = connection
    return connection


def _drop_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):  # it is being thrown away anyway
            connection.close()


UNSUBSCRIBE_SALT = "customers.unsubscribe"


def unsubscribe_url(address: str) -> str:
    """The one-step unsubscribe link of an address: signed, so that nobody can
    unsubscribe another address, and without expiry (it must work in any old email)."""
    token = signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(address.strip().lower(), compress=True)
    return settings.SITE_URL + reverse("unsubscribe", args=[token])


def unsubscribed_address(token: str) -> str | None:
    try:
        return signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature:
        return None


def build_email(message: Message) -> EmailMultiAlternatives:
    headers = {"Message-ID": message.message_id, "X-CRM-Kind": message.kind}
    if message.entry == Entry.OUTBOUND:
        # RFC 2369 and RFC 8058: mail programs show an "unsubscribe" button that POSTs
        # to the link at once (one step, no page to read).
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(message.to_email)}one-click/>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.automatic or message.entry == Entry.STAFF:
        # RFC 3834: auto-responders must not answer this (no mail loops with them).
        headers["Auto-Submitted"] = "auto-generated"
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
        headers["References"] = message.in_reply_to
    reply_to = [settings.SUPPORT_REPLY_TO] if settings.SUPPORT_REPLY_TO else None
    email_message = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers=headers,
        reply_to=reply_to,
    )
    if message.body_html:
        email_message.attach_alternative(message.body_html, "text/html")
    return email_message


def write_out(message: Message) -> None:
    """Render an email stored with its context only (its kind's renderer, its language)."""
    context = _RENDERERS[message.kind](message)
    if message.entry == Entry.OUTBOUND:
        context.setdefault("unsubscribe_url", unsubscribe_url(message.to_email))
    rendered = render_email(message.kind, context, language=message.language)
    message.subject, message.body, message.body_html = rendered.subject[:300], rendered.text, rendered.html


def write_out_all(messages: list[Message]) -> None:
    """Write out these emails as delivery does: each kind's preparer first, then the
    renderers (the demo's history is written so, without sending)."""
    _prepare(messages)
    for message in messages:
        write_out(message)


class PermanentFailure(Exception):
    """The mail server refused the message for good (a 5xx answer)."""


def _send(email_message: EmailMultiAlternatives) -> None:
    for attempt in (1, 2):
        connection = _connection()
        try:
            connection.send_messages([email_message])
            return
        except (smtplib.SMTPServerDisconnected, ConnectionError):
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
            _drop_connection()
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(str(exc)) from exc
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


SAVED_ON_DELIVERY = [
    "subject",
    "body",
    "body_html",
    "delivery",
    "attempts",
    "sent_at",
    "next_attempt_at",
    "last_error",
]


def _erased_recipient(message: Message) -> str | None:
    """An email to a customer whose personal data was erased, to an address they no
    longer have: the erasure cancels what is pending, but an email another transaction
    wrote meanwhile (a sweep's follow-up, say) commits after it and is caught here."""
    customer = message.customer if message.customer_id else None
    if message.entry != Entry.OUTBOUND or customer is None or customer.erased_at is None:
        return None
    if message.to_email and message.to_email == (customer.email or "").lower():
        return None  # an address the shop gave again since
    return "the customer's personal data was erased"


def _deliver(message: Message) -> str:
    """Check, write out and send one locked pending email; set its new state on the
    object (the caller saves). Returns sent, cancelled, retry or failed."""
    check = _REASON_CHECKS.get(message.kind)
    reason = _erased_recipient(message) or (check(message) if check else None)
    if reason:
        message.delivery = Delivery.CANCELLED
        message.next_attempt_at = None
        message.last_error = reason
        logger.info("Cancelled %s (%s): %s", message.kind, message.key or message.pk, reason)
        return "cancelled"
    message.attempts += 1
    try:
        if not message.body and message.kind in _RENDERERS:
            write_out(message)
        _send(build_email(message))
    except PermanentFailure as exc:
        message.delivery = Delivery.FAILED
        message.next_attempt_at = None
        message.last_error = str(exc)[:2000]
        logger.error("Mail server refused %s to %s for good: %s", message.kind, message.to_email, exc)
        return "failed"
    except Exception as exc:  # any transport error is retried later
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            message.delivery = Delivery.FAILED
            message.next_attempt_at = None
            logger.error("Gave up on %s to %s after %d attempts", message.kind, message.to_email, message.attempts)
            return "failed"
        message.next_attempt_at = timezone.now() + retry_delay(message.attempts)
        logger.warning("Sending %s failed (%s); retrying at %s", message.pk, exc, message.next_attempt_at)
        return "retry"
    message.delivery = Delivery.SENT
    message.sent_at = timezone.now()
    message.next_attempt_at = None
    message.last_error = ""
    return "sent"


def save_soon(obj: models.Model) -> None:
    """Save a new row that writing out an email makes (a personal link, say): during a
    delivery chunk, together with the chunk's others in one INSERT before it commits;
    otherwise at once."""
    pending = getattr(_local, "pending_rows", None)
    if pending is None:
        obj.save()
    else:
        pending.append(obj)


def _save_pending_rows() -> None:
    rows, _local.pending_rows = _local.pending_rows, None
    by_model: dict[type, list] = {}
    for row in rows or ():
        by_model.setdefault(type(row), []).append(row)
    for model, objects in by_model.items():
        model.objects.bulk_create(objects)


def messages_deliver(message_ids: list[int]) -> dict[str, int]:
    """Send pending emails (the worker's task): how many were sent, cancelled, put back
    for a retry, or failed; the others were skipped (sent already, or another worker
    has them).

    One transaction for the chunk: the rows are locked together (SKIP LOCKED), their
    tickets and customers read in two queries, each email checked, written out and
    sent, and every row's new state written in one statement. A worker killed halfway
    leaves the whole chunk pending, so each of its emails is sent at most once more,
    with the same Message-ID.
    """
    outcomes: dict[str, int] = {}
    with transaction.atomic():
        messages = _locked_with_related(message_ids)
        _prepare(messages)
        _local.pending_rows = []
        try:
            for message in messages:
                outcome = _deliver(message)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            _save_pending_rows()
        update_rows(Message, messages, SAVED_ON_DELIVERY)
    outcomes["skipped"] = len(message_ids) - len(messages)
    if outcomes["skipped"]:
        # Sent already, or locked by another delivery: if neither, the row waits for the
        # outbox sweep (OUTBOX_REQUEUE_AFTER_SECONDS), so say which rows were passed over.
        skipped = sorted(set(message_ids) - {message.pk for message in messages})
        logger.info("Delivery passed over %d of %d message(s): %s", len(skipped), len(message_ids), skipped[:20])
    return outcomes


def message_deliver(message_id: int) -> str:
    """`messages_deliver` for one email: what happened to it."""
    outcomes = messages_deliver([message_id])
    return next(outcome for outcome, count in outcomes.items() if count)


def _locked_with_related(message_ids: list[int]) -> list[Message]:
    """Lock the pending ones of these messages (SKIP LOCKED, in id order) and read their
    tickets and customers, each set on its messages (checks and renderers use them
    without querying again): three lookups by key in one round trip, without the ORM's
    compiling, which cost more than the statements (about 2 ms a delivery). Lookups by
    key, not a join: PostgreSQL plans those in microseconds, a join of tickets and
    customers (both with many indexes) in milliseconds."""
    from django.apps import apps

    Ticket = apps.get_model("feedback", "Ticket")
    ids = placeholders(len(message_ids))
    table = connection.ops.quote_name(Message._meta.db_table)
    related = (("ticket", Ticket), ("customer", Customer))
    found = rows_together(
        Rows(
            Message,
            f"id IN ({ids}) AND delivery = %s",
            [*message_ids, Delivery.PENDING],
            order_by="id",
            lock=True,
            skip_locked=True,
        ),
        *(
            Rows(model, f"id IN (SELECT {field}_id FROM {table} WHERE id IN ({ids}))", message_ids)
            for field, model in related
        ),
    )
    messages = found[0]
    for (field, _model), rows in zip(related, found[1:], strict=True):
        by_id = {row.pk: row for row in rows}
        for message in messages:
            row = by_id.get(getattr(message, f"{field}_id"))
            if row is not None:
                setattr(message, field, row)
    return messages


def _prepare(messages: list[Message]) -> None:
    by_kind: dict[str, list[Message]] = {}
    for message in messages:
        if message.kind in _PREPARERS:
            by_kind.setdefault(message.kind, []).append(message)
    for kind, batch in by_kind.items():
        _PREPARERS[kind](batch)


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
