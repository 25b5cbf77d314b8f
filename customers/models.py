"""Customers, the products they buy and their orders, and the activity aggregates that
make retention reports read thousands of rows instead of millions.

Facts about one row live here; anything that writes several rows is in services.py,
reads and metrics in selectors.py and metrics/.
"""

import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

COUNTED_EXCLUDED_STATUSES = ("cancelled", "refunded")


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    # Reading the zone database takes milliseconds: once per process is enough.
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in known_time_zones():
        raise ValidationError(
            _("%(value)s is not a known time zone (e.g. Europe/Copenhagen)."), params={"value": value}
        )


def default_time_zone() -> str:
    return settings.TIME_ZONE


def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


currency_validator = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code such as EUR."))


class AcquisitionChannel(models.TextChoices):
    ORGANIC = "organic", _("Organic search or direct")
    PAID_SEARCH = "paid_search", _("Paid search")
    SOCIAL = "social", _("Social media")
    EMAIL = "email", _("Email marketing")
    REFERRAL = "referral", _("Referral")
    MARKETPLACE = "marketplace", _("Marketplace")
    RETAIL = "retail", _("In store")
    PARTNER = "partner", _("Partner")
    OTHER = "other", _("Other")


# Nothing this project keeps happened before this day: older dates are typing
# mistakes, and a date near Python's year 1 overflows when a report or a page moves it
# into another time zone.
EARLIEST_DAY = date(1900, 1, 1)


def not_before_1900(value: datetime) -> None:
    if value.date() < EARLIEST_DAY:
        raise ValidationError(_("%(value)s is before 1900."), code="too_early", params={"value": value.date()})


def plausible_birthday(value: date) -> None:
    """As the customer import checks it: from 1900 to today (a day ahead for zones)."""
    if not EARLIEST_DAY <= value <= timezone.now().date() + timedelta(days=1):
        raise ValidationError(_("%(value)s is not a plausible birthday."), code="implausible", params={"value": value})


class CustomerQuerySet(models.QuerySet):
    def with_email(self, email: str) -> "CustomerQuerySet":
        """Customers whose email equals `email` ignoring case (uses the unique index)."""
        return self.alias(email_lower=Lower("email")).filter(email_lower=email.strip().lower())


class Customer(models.Model):
    # The id the shop or billing system knows the customer by. Customers who only ever
    # wrote to support have none: NULL, so that the unique constraint ignores them.
    external_id = models.CharField(_("customer id"), max_length=64, null=True, blank=True)  # noqa: DJ001
    # NULL, not "", when unknown: the case-insensitive unique index covers real addresses only.
    email = models.EmailField(_("email"), null=True, blank=True)  # noqa: DJ001
    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    locale = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone, validators=[validate_time_zone]
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True, validators=[plausible_birthday])
    acquisition_channel = models.CharField(
        _("acquisition channel"), max_length=20, choices=AcquisitionChannel.choices, blank=True
    )
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    survey_consent = models.BooleanField(_("survey consent"), default=False)
    first_seen = models.DateTimeField(
        _("first seen"), default=timezone.now, db_index=True, validators=[not_before_1900]
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # When the customer's personal data was erased at their request (services.customer_erase).
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True, editable=False)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            # Constraints rather than unique=True: on PostgreSQL the latter adds a second,
            # LIKE-only index per column that every insert would pay for.
            models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique"),
            models.UniqueConstraint(Lower("email"), name="customer_email_ci_unique"),
            models.CheckConstraint(condition=~Q(email=""), name="customer_email_null_not_blank"),
        ]
        permissions = [
            ("import_customer", _("Can import customers")),
            ("export_customer", _("Can export customers")),
            ("view_retention_metrics", _("Can view retention metrics")),
            ("erase_customer", _("Can erase a customer's personal data")),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or _("Customer %(id)s") % {"id": self.pk}

    def clean(self) -> None:
        # Blank emails are stored as NULL so that the case-insensitive unique index
        # only covers real addresses.
        if self.email is not None:
            self.email = self.email.strip() or None


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, blank=True)
    price = models.DecimalField(
        _("price"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    FULFILLED = "fulfilled", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class OrderQuerySet(models.QuerySet):
    def counted(self) -> "OrderQuerySet":
        """Orders that enter the metrics: all but cancelled and refunded (METRICS.md)."""
        return self.exclude(status__in=COUNTED_EXCLUDED_STATUSES)

    def placed_between(self, since: datetime, until: datetime) -> "OrderQuerySet":
        """Orders placed in [since, until)."""
        return self.filter(placed_at__gte=since, placed_at__lt=until)


class Order(models.Model):
    external_id = models.CharField(_("order id"), max_length=64)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("customer"),
        db_index=False,  # (customer, placed_at) below serves every lookup by customer
    )
    placed_at = models.DateTimeField(_("placed at"), validators=[not_before_1900])
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(_("currency"), max_length=3, default=default_currency, validators=[currency_validator])
    status = models.CharField(_("status"), max_length=10, choices=OrderStatus.choices, default=OrderStatus.PLACED)
    discount_code = models.CharField(_("discount code"), max_length=64, blank=True)
    # Money given back while the order stands (a partial refund); a whole refund is the
    # status "refunded". Loyalty takes back the same share of the points it earned.
    refunded_total = models.DecimalField(
        _("refunded"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        db_default=Decimal("0"),  # the import's INSERT … SELECT names only the file's columns
        validators=[MinValueValidator(0)],
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            # A customer's orders in time: lifetime figures, the customer page, and the
            # per-customer recomputation of the activity aggregates.
            models.Index(fields=["customer", "placed_at"], name="order_customer_placed"),
            # Date ranges: the API's filters and the plain (unaggregated) metrics.
            models.Index(fields=["placed_at"], name="order_placed_at"),
            # Finding the orders that carried a code (support, and rewards later).
            models.Index(fields=["discount_code"], name="order_discount_code", condition=~Q(discount_code="")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="order_external_id_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_total__gte=0) & Q(refunded_total__lte=F("total")), name="order_refund_within_total"
            ),
        ]
        permissions = [
            ("import_order", _("Can import orders")),
            ("export_order", _("Can export orders")),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_counted(self) -> bool:
        return self.status not in COUNTED_EXCLUDED_STATUSES


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = models.PositiveIntegerField(_("quantity"), default=1, validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_unit_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


# --- Activity aggregates ------------------------------------------------------------
#
# Kept in step with the orders table by customers.metrics.maintenance (PostgreSQL only)
# and rebuildable from scratch with `manage.py rebuild_metrics`. docs/architecture.md
# explains how each retention figure is read from them. "day" is always a calendar day
# in AggregateState.time_zone.


class AggregateState(models.Model):
    """The one row that says which window and time zone the aggregates were built for.

    The fast path is used only when these equal the settings; otherwise reports compute
    from the orders table until `rebuild_metrics` runs.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    window_days = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="aggregatestate_single_row")]

    def __str__(self) -> str:
        return f"W={self.window_days} {self.time_zone}"


class DailyActivity(models.Model):
    """Counters per calendar day; every retention figure but one is a sum over them."""

    day = models.DateField(primary_key=True)
    orders = models.IntegerField(default=0)  # counted orders placed on `day`
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal(0))
    first_orders = models.IntegerField(default=0)  # customers whose first counted order is on `day`
    second_orders = models.IntegerField(default=0)  # ... whose second counted order is on `day`
    # A customer is active at midnight T when a counted order lies on a day in [T-W, T-1].
    # Each run of activity ("spell") adds 1 at its first active midnight and 1 to
    # `deactivations` at its first inactive one; active customers at T = the sums up to T.
    activations = models.IntegerField(default=0)
    deactivations = models.IntegerField(default=0)

    def __str__(self) -> str:
        return str(self.day)


class DailyActivityPending(models.Model):
    """Deltas to DailyActivity appended by order writers, folded in every minute.

    Appending keeps concurrent writers from queueing on today's counter row; readers add
    these rows to the base table's, so the figures are exact at every moment.
    """

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    orders = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal(0))
    first_orders = models.IntegerField(default=0)
    second_orders = models.IntegerField(default=0)
    activations = models.IntegerField(default=0)
    deactivations = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day} (pending)"


class ReturnGap(models.Model):
    """How many customers ordered on `day` after `gap` days without an order.

    Only gaps below twice the window are kept: returning customers in a period of at most
    W days never need more (see docs/architecture.md).
    """

    pk = models.CompositePrimaryKey("day", "gap")
    day = models.DateField()
    gap = models.PositiveIntegerField()
    customers = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day} +{self.gap}"


class ReturnGapPending(models.Model):
    """Deltas to ReturnGap; see DailyActivityPending."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    gap = models.PositiveIntegerField()
    customers = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day} +{self.gap} (pending)"


class CohortActivity(models.Model):
    """Customers of the cohort `cohort` (month of first counted order) active in `month`."""

    pk = models.CompositePrimaryKey("cohort", "month")
    cohort = models.DateField()
    month = models.DateField()
    customers = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} → {self.month:%Y-%m}"


class CohortActivityPending(models.Model):
    """Deltas to CohortActivity; see DailyActivityPending."""

    id = models.BigAutoField(primary_key=True)
    cohort = models.DateField()
    month = models.DateField()
    customers = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} → {self.month:%Y-%m} (pending)"


# --- The timeline, which is also the outbox -------------------------------------------
#
# Every interaction with a customer is a Message row: what they wrote, what we sent or
# will send, internal notes, calls and meetings staff logged, and the emails sent to
# staff about them. An email is a row before it is a delivery: the cause writes it in
# its own transaction (with a unique key, so a second acknowledgment for the same ticket
# cannot exist), and customers.outbox writes it out and delivers it (docs/architecture.md,
# "The outbox").


class Entry(models.TextChoices):
    INBOUND = "inbound", _("From the customer")
    OUTBOUND = "outbound", _("To the customer")
    NOTE = "note", _("Internal note")
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    STAFF = "staff", _("Email to staff")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEB = "web", _("Web")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    SOCIAL = "social", _("Social media")
    API = "api", _("API")
    IN_PERSON = "in_person", _("In person")


class Delivery(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled (no longer needed)")
    SUPPRESSED = "suppressed", _("Not sent (too many automatic emails to this address)")


EMAIL_ENTRIES = (Entry.OUTBOUND, Entry.STAFF)


class MessageQuerySet(models.QuerySet):
    def timeline(self) -> "MessageQuerySet":
        return self.order_by("-occurred_at", "-id")

    def visible_to_customer(self) -> "MessageQuerySet":
        """What the customer's own ticket page shows: what they wrote and what we sent
        them (notes, calls and staff emails stay internal)."""
        return self.filter(entry__in=(Entry.INBOUND, Entry.OUTBOUND)).exclude(
            delivery__in=(Delivery.CANCELLED, Delivery.SUPPRESSED)
        )

    def due_for_delivery(self, now: datetime) -> "MessageQuerySet":
        """Emails the sweep must (re)queue: never delivered, and past their next attempt."""
        return self.filter(delivery=Delivery.PENDING, next_attempt_at__lte=now)


class Message(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="messages", verbose_name=_("customer")
    )
    ticket = models.ForeignKey(
        "feedback.Ticket",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("ticket"),
    )
    entry = models.CharField(_("entry"), max_length=10, choices=Entry.choices)
    # For emails, the X-CRM-Kind header (docs/architecture.md lists every kind).
    kind = models.CharField(_("kind"), max_length=40, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("written by"),
    )
    # Sent by the system on its own (acknowledgments, follow-ups), not typed by a person:
    # these count toward the hourly cap per address.
    automatic = models.BooleanField(_("automatic"), default=False)
    from_email = models.EmailField(_("from"), blank=True)
    to_email = models.EmailField(_("to"), blank=True)  # stored in lower case
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    # What an automatic email will say, kept until it is written out at delivery (in
    # the recipient's language, with a fresh personal link); subject and text are
    # stored then, so the timeline shows what was sent.
    context = models.JSONField(_("context"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    # One message per cause, e.g. "ticket:42:ack"; NULL for what people write.
    key = models.CharField(_("key"), max_length=160, null=True, blank=True)  # noqa: DJ001
    delivery = models.CharField(_("delivery"), max_length=10, choices=Delivery.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The deadline of the outbox sweep: when to (re)queue this email if it is still pending.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # The same on every attempt, so that a duplicate is recognisable; replies quote it.
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=998, blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="message_customer_timeline"),
            models.Index(fields=["ticket", "-occurred_at"], name="message_ticket_timeline"),
            # The outbox sweep reads only what is pending: a small index whatever the history.
            models.Index(fields=["next_attempt_at"], name="message_pending_due", condition=Q(delivery="pending")),
            models.Index(fields=["message_id"], name="message_message_id", condition=~Q(message_id="")),
            # The hourly cap of automatic emails to one address.
            models.Index(fields=["to_email", "created_at"], name="message_automatic_to", condition=Q(automatic=True)),
            models.Index(fields=["delivery"], name="message_failed", condition=Q(delivery="failed")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="message_key_unique"),
            models.CheckConstraint(
                condition=Q(entry__in=EMAIL_ENTRIES) | Q(delivery=""), name="message_delivery_only_for_emails"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or self.get_entry_display()

    @property
    def is_email(self) -> bool:
        return self.entry in EMAIL_ENTRIES


class Unsubscribe(models.Model):
    """An address that asked for no more surveys or offers (one press on the link in any
    of our emails, or the List-Unsubscribe header). Emails about the customer's own
    tickets still go: they asked for those."""

    email = models.EmailField(_("email"), unique=True)  # stored in lower case
    created_at = models.DateTimeField(_("unsubscribed"), default=timezone.now)

    class Meta:
        verbose_name = _("unsubscribed address")
        verbose_name_plural = _("unsubscribed addresses")

    def __str__(self) -> str:
        return self.email
