"""Writes that the API, the admin, the imports and the tasks share.

Every change to an order goes through here (or through the imports, which follow the
same rules in bulk), inside `orders_changing`, so that the retention aggregates stay
exact.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from retention_crm.db import Rows, insert_unless_taken, rows_together

from .metrics import orders_changing
from .models import Channel, Customer, Delivery, Entry, Message, Order, OrderLine, OrderStatus, Product


def orders_points_update(*, order_ids: list[int]) -> None:
    """Loyalty points follow the orders (earned, taken back on a refund): the loyalty
    app's service, called in the transaction that changed them."""
    from loyalty.services import orders_points_update as update

    update(order_ids=order_ids)


def order_points_new(*, order: Order) -> None:
    """The same for an order just created."""
    from loyalty.services import order_points_new as earn

    earn(order=order)


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    product_name: str = ""


def _with_email(email: str) -> Rows:
    """`Customer.objects.with_email` as a read of `rows_together`: the same match, on the
    unique index's expression, without the ORM's compiling (which cost more than the
    query on the busy paths: an order, a support form)."""
    return Rows(Customer, "lower(email) = %s", [email.strip().lower()])


def customer_for_order(
    *, external_id: str, email: str | None = None, name: str = "", first_seen: datetime | None = None
) -> Customer:
    """The customer an order names by `external_id`, created when unknown.

    A customer known only by this email (one who wrote to support before buying, say)
    is the same person: they get the external id instead of a duplicate. An email that
    belongs to a customer with another external id is refused.
    """
    email = (email or "").strip() or None
    # By the external id and by the email in one round trip: a new customer needs both.
    reads = [Rows(Customer, "external_id = %s", [external_id])]
    if email:
        reads.append(_with_email(email))
    by_id, *by_email = rows_together(*reads)
    if by_id:
        return by_id[0]
    if email:
        owner = next(iter(by_email[0]), None)
        if owner is not None and owner.external_id is None:
            owner.external_id = external_id
            owner.save(update_fields=["external_id", "updated_at"])
            return owner
        if owner is not None:
            raise ValidationError(
                {
                    "customer_email": _("%(email)s is the email of customer %(other)s.")
                    % {"email": email, "other": owner.external_id}
                }
            )
    customer = Customer(
        external_id=external_id,
        email=email,
        name=name,
        locale=settings.LANGUAGE_CODE,
        time_zone=settings.TIME_ZONE,
        first_seen=min(first_seen or timezone.now(), timezone.now()),
    )
    # ON CONFLICT DO NOTHING, as for a contact: no savepoint around the INSERT.
    if insert_unless_taken(customer):
        return customer
    # Another request created the customer (or took the email) a moment ago.
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise ValidationError({"customer_email": _("%(email)s is the email of another customer.") % {"email": email}})
    return customer


def _products_for_lines(lines: Sequence[LineInput]) -> dict[str, Product]:
    """The products the lines name by SKU; an unknown SKU becomes a new product."""
    skus = {line.sku for line in lines}
    products = {product.sku: product for product in Product.objects.filter(sku__in=skus)}
    missing = [
        Product(sku=line.sku, name=line.product_name or line.sku)
        for line in {line.sku: line for line in lines if line.sku not in products}.values()
    ]
    if missing:
        Product.objects.bulk_create(missing, ignore_conflicts=True)
        products = {product.sku: product for product in Product.objects.filter(sku__in=skus)}
    return products


def order_create(
    *,
    order_id: str,
    customer_id: str,
    placed_at: datetime,
    total: Decimal,
    currency: str = "",
    status: str = OrderStatus.PLACED,
    customer_email: str | None = None,
    customer_name: str = "",
    discount_code: str = "",
    lines: Sequence[LineInput] = (),
) -> tuple[Order, bool]:
    """Create an order, or return the existing one with this order_id (idempotent).

    Returns (order, created). A retry of the same request, or two at once, give one
    order: the unique order id decides, and the loser returns the order that won. A
    created order comes with its customer and lines attached, ready to serialise.
    """
    with transaction.atomic():
        customer = customer_for_order(
            external_id=customer_id, email=customer_email, name=customer_name, first_seen=placed_at
        )
        with orders_changing([customer.pk]):
            order = Order(
                external_id=order_id,
                customer=customer,
                placed_at=placed_at,
                total=total,
                currency=currency or settings.DEFAULT_CURRENCY,
                status=status,
                discount_code=discount_code,
            )
            # INSERT … ON CONFLICT DO NOTHING: no savepoint (two round trips) around it.
            if not insert_unless_taken(order, "external_id"):
                order = None  # this order_id exists: a retry, or a twin request that won
            if order is not None:
                created_lines = []
                if lines:
                    products = _products_for_lines(lines)
                    created_lines = OrderLine.objects.bulk_create(
                        OrderLine(
                            order=order, product=products[line.sku], quantity=line.quantity, unit_price=line.unit_price
                        )
                        for line in lines
                    )
                order._prefetched_objects_cache = {"lines": created_lines}
                if placed_at < customer.first_seen:
                    Customer.objects.filter(pk=customer.pk, first_seen__gt=placed_at).update(first_seen=placed_at)
                order_points_new(order=order)
    if order is None:
        return Order.objects.get(external_id=order_id), False
    return order, True


def _stored_customer_ids(order_ids: Iterable[int]) -> set[int]:
    return set(Order.objects.filter(pk__in=order_ids).values_list("customer_id", flat=True))


def _changed_meanwhile() -> ValidationError:
    return ValidationError(_("Someone else changed these orders meanwhile; reload the page and try again."))


def order_save(*, order: Order) -> Order:
    """Save an order created or changed in place (status, total, moment, even its
    customer), as the admin's form does.

    Customers are always locked before their orders. The customer the order had is read
    first and checked again under the lock: an order moved by someone else meanwhile is
    refused rather than counted for the wrong customer.
    """
    with transaction.atomic():
        stored = _stored_customer_ids([order.pk]) if order.pk else set()
        with orders_changing(stored | {order.customer_id}):
            if order.pk and _stored_customer_ids([order.pk]) != stored:
                raise _changed_meanwhile()
            order.full_clean()
            order.save()
            Customer.objects.filter(pk=order.customer_id, first_seen__gt=order.placed_at).update(
                first_seen=order.placed_at
            )
        orders_points_update(order_ids=[order.pk])
    return order


def order_update(*, order: Order, **changes) -> Order:
    """Change some fields of an order (the API's PATCH)."""
    for name, value in changes.items():
        setattr(order, name, value)
    return order_save(order=order)


def orders_delete(*, order_ids: Iterable[int]) -> int:
    """Delete orders (with their lines). Returns how many orders went."""
    order_ids = list(order_ids)
    with transaction.atomic():
        stored = _stored_customer_ids(order_ids)
        with orders_changing(stored):
            if _stored_customer_ids(order_ids) != stored:
                raise _changed_meanwhile()
            _total, deleted_by_model = Order.objects.filter(pk__in=order_ids).delete()
    return deleted_by_model.get(Order._meta.label, 0)


# --- Erasure ----------------------------------------------------------------------------


def customer_erase(*, customer_id: int, author=None, now: datetime | None = None, why: str = "") -> Customer:
    """Erase what identifies a customer, at their request (the GDPR's right to erasure),
    in one transaction: name, email, phone and birthday; the addresses and texts of every
    message of their timeline and of staff emails about one of their tickets, and emails
    still waiting to go (cancelled); what they wrote in tickets, staff notes on reminders
    about them, survey free-text answers; every personal link (ticket pages, survey
    links, the loyalty page). Consents are withdrawn. docs/architecture.md has the list.

    Kept, because they identify nobody and the figures are made of them: the customer's
    row and the shop's customer id (later orders from the shop still land on it), orders
    and their lines, tickets' kinds, times and statuses, survey scores and choices, the
    points ledger. An address that unsubscribed stays on that list, so that it is never
    emailed offers again. Erasing again (the shop sent new details since) erases again.
    `why` goes on the timeline's note (by default: at the customer's request).
    """
    from feedback.services import support_data_erase
    from feedback.surveys.services import survey_data_erase
    from loyalty.services import account_links_renew

    now = now or timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        customer.name, customer.email, customer.phone, customer.birthday = "", None, "", None
        customer.marketing_consent = customer.survey_consent = False
        customer.erased_at = now
        customer.save()
        # Every message blanked (a mail server's error may quote the address too), and
        # the pending ones cancelled, in one statement: the timeline's, and the staff
        # emails about one of their tickets (which name the customer).
        pending = Q(delivery=Delivery.PENDING)
        Message.objects.filter(Q(customer_id=customer_id) | Q(ticket__customer_id=customer_id)).update(
            from_email="",
            to_email="",
            subject="",
            body="",
            body_html="",
            context={},
            delivery=Case(When(pending, then=Value(Delivery.CANCELLED)), default=F("delivery")),
            last_error=Case(When(pending, then=Value("personal data erased")), default=Value("")),
            next_attempt_at=None,
        )
        support_data_erase(customer_id=customer_id)
        survey_data_erase(customer_id=customer_id, now=now)
        account_links_renew(customer_id=customer_id)
        interaction_log(
            customer=customer,
            entry=Entry.NOTE,
            body=why or _("Personal data erased at the customer's request."),
            author=author,
            occurred_at=now,
        )
    return customer


def inactive_customers(*, since: datetime, among: Sequence[int] | None = None) -> list[int]:
    """Customers not erased yet without a sign of life since `since` (of `among`, when
    given): first seen and created before it, no order, message (either way) or ticket
    since, and no ticket still open. One set-based query: hash anti-joins over what
    happened since, however many customers there are."""
    from feedback.models import ACTIVE_STATUSES, Ticket

    mine = {"customer": OuterRef("pk")}
    customers = Customer.objects.filter(erased_at__isnull=True, first_seen__lt=since, created_at__lt=since)
    if among is not None:
        customers = customers.filter(pk__in=among)
    return list(
        customers.exclude(Exists(Order.objects.filter(**mine, placed_at__gte=since)))
        .exclude(Exists(Message.objects.filter(**mine, occurred_at__gte=since)))
        .exclude(Exists(Ticket.objects.filter(Q(created_at__gte=since) | Q(status__in=ACTIVE_STATUSES), **mine)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def inactive_customers_erase(*, now: datetime | None = None) -> int:
    """The nightly job: erase the personal data of customers inactive for
    CUSTOMER_ERASE_INACTIVE_DAYS (nothing when it is 0). Returns how many.

    The candidates are found in one pass; each is then checked again under its row's
    lock, which an order being recorded takes too, so that a customer who ordered a
    moment ago is never erased. (A ticket opened at that very moment does not take the
    lock: its texts would stay, and its acknowledgment is cancelled at delivery.)"""
    days = settings.CUSTOMER_ERASE_INACTIVE_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    since = now - timedelta(days=days)
    why = ngettext(
        "Personal data erased after %(days)d day without activity.",
        "Personal data erased after %(days)d days without activity.",
        days,
    ) % {"days": days}
    erased = 0
    for customer_id in inactive_customers(since=since):
        with transaction.atomic():
            list(Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk"))
            if inactive_customers(since=since, among=[customer_id]):
                customer_erase(customer_id=customer_id, now=now, why=why)
                erased += 1
    return erased


# --- Contacts and the timeline --------------------------------------------------------


def customer_for_contact(*, email: str, name: str = "", locale: str = "") -> tuple[Customer, bool]:
    """The customer with this email (ignoring case), created when unknown: someone who
    writes to support is a customer of ours from then on, even before a first order.
    Returns (customer, created).

    Two requests for the same new address at once make one customer: the unique index
    on lower(email) decides and the loser reads the winner's row.
    """
    email = email.strip()
    (found,) = rows_together(_with_email(email))
    customer = next(iter(found), None)
    if customer is not None:
        if name and not customer.name:
            customer.name = name[:200]
            customer.save(update_fields=["name", "updated_at"])
        return customer, False
    languages = {code for code, _name in settings.LANGUAGES}
    customer = Customer(
        email=email,
        name=name[:200],
        locale=locale if locale in languages else settings.LANGUAGE_CODE,
        time_zone=settings.TIME_ZONE,
    )
    # ON CONFLICT DO NOTHING instead of a savepoint around the INSERT (two round trips):
    # without an external id, the address is the only unique value it can collide on.
    if insert_unless_taken(customer):
        return customer, True
    return Customer.objects.with_email(email).get(), False


def interaction_check(
    *, customer: Customer | None, entry: str, body: str, occurred_at: datetime | None = None, ticket=None
) -> None:
    """The rules of `interaction_log`, for a form to show before it saves: a
    ValidationError with a message per field."""
    errors = {}
    if entry not in (Entry.NOTE, Entry.CALL, Entry.MEETING):
        errors["entry"] = _("Only notes, calls and meetings are logged by hand.")
    if not body.strip():
        errors["body"] = _("Write what was said or done.")
    if occurred_at and occurred_at > timezone.now() + timedelta(minutes=5):
        errors["occurred_at"] = _("A logged interaction cannot lie in the future.")
    if ticket is not None and customer is not None and ticket.customer_id != customer.pk:
        errors["ticket"] = _("The ticket belongs to another customer.")
    if errors:
        raise ValidationError(errors)


def interaction_log(
    *,
    customer: Customer,
    entry: str,
    body: str,
    author=None,
    subject: str = "",
    channel: str = Channel.PHONE,
    occurred_at: datetime | None = None,
    ticket=None,
) -> Message:
    """Put a note, call or meeting on the customer's timeline (and the ticket's, if any)."""
    interaction_check(customer=customer, entry=entry, body=body, occurred_at=occurred_at, ticket=ticket)
    now = timezone.now()
    return Message.objects.create(
        customer=customer,
        ticket=ticket,
        entry=entry,
        channel=Channel.WEB if entry == Entry.NOTE else channel,
        author=author,
        subject=subject[:300],
        body=body,
        occurred_at=occurred_at or now,
    )
