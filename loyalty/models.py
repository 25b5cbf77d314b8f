"""The rows of the loyalty program: its rules, tiers, accounts and their ledger, rewards
and redemptions. Facts about one row live here; writes are in services.py.

DESIGN.md, mechanism 3: points are a ledger. Every change of a balance is an `Entry`
with a unique key naming its cause (`earn:order:42`), written under the account's row
lock together with the new balance, and a CHECK keeps balances from going below zero.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Order, OrderStatus, Product, currency_validator, default_currency
from retention_crm.texts import TextsInLanguages, in_language
from retention_crm.tokens import link_mac

# The longest spans the rules allow. Dates are worked out from them on every order and
# redemption; a typo of a few more digits (3,000,000 days) would put them past the
# year 9999 and make every order that earns fail, so such values are refused here.
MAX_DAYS = 3650
MAX_MONTHS = 1200


class Rounding(models.TextChoices):
    DOWN = "down", _("Down (1.9 → 1)")
    HALF_UP = "half_up", _("To the nearest (1.5 → 2)")
    UP = "up", _("Up (1.1 → 2)")


class TierBasis(models.TextChoices):
    SPEND = "spend", _("Spend in the window")
    ORDERS = "orders", _("Number of orders in the window")


def default_earning_statuses() -> list[str]:
    return [OrderStatus.PAID, OrderStatus.FULFILLED]


class Program(models.Model):
    """The program's rules: one row (id 1), edited by managers in the admin.

    Points already earned keep the rules they were earned under: each earn entry stores
    its rate and basis, and a refund takes back what that entry gave.
    """

    points_per_unit = models.DecimalField(
        _("points per currency unit"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
    )
    rounding = models.CharField(_("rounding"), max_length=8, choices=Rounding.choices, default=Rounding.DOWN)
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default=default_currency,
        # Compared with the orders' codes, always upper case: "eur" would match none.
        validators=[currency_validator],
        help_text=_("Orders in another currency earn no points."),
    )
    earning_statuses = models.JSONField(
        _("order statuses that earn"),
        default=default_earning_statuses,
        help_text=_("An order earns once, when it first has one of these statuses."),
    )
    pending_days = models.PositiveIntegerField(
        _("pending days"),
        default=30,
        validators=[MaxValueValidator(MAX_DAYS)],
        help_text=_("Earned points can be spent this many days later (returns window)."),
    )
    expiry_months = models.PositiveIntegerField(
        _("expiry (months)"),
        default=12,
        validators=[MaxValueValidator(MAX_MONTHS)],
        help_text=_("Points expire this many months after they were earned; 0: never. Oldest points are spent first."),
    )
    min_order_to_use_points = models.DecimalField(
        _("minimum order value for using points"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text=_("A reward code is accepted on orders of at least this value."),
    )
    referrer_points = models.PositiveIntegerField(_("points for the referrer"), default=500)
    referee_points = models.PositiveIntegerField(_("points for the new customer"), default=250)
    referral_bonus_every = models.PositiveIntegerField(
        _("bonus every N referrals"),
        default=0,
        help_text=_("0: no bonus. Otherwise the referrer's reward grows by the bonus after every N successful ones."),
    )
    referral_bonus_points = models.PositiveIntegerField(_("referral bonus points"), default=0)
    birthday_points = models.PositiveIntegerField(_("birthday bonus"), default=100)
    welcome_reward = models.ForeignKey(
        "Reward",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("welcome reward"),
        help_text=_("Its code is sent with the thanks for a customer's first paid order."),
    )
    tier_basis = models.CharField(_("tiers by"), max_length=8, choices=TierBasis.choices, default=TierBasis.SPEND)
    tier_window_months = models.PositiveIntegerField(
        _("tier window (months)"), default=12, validators=[MinValueValidator(1), MaxValueValidator(MAX_MONTHS)]
    )
    downgrade_grace_days = models.PositiveIntegerField(
        _("downgrade grace (days)"),
        default=30,
        validators=[MaxValueValidator(MAX_DAYS)],
        help_text=_(
            "A member who no longer qualifies keeps the tier this long before the nightly evaluation lowers it."
        ),
    )
    goodwill_cap_per_ticket = models.PositiveIntegerField(_("goodwill cap per ticket"), default=500)
    point_value = models.DecimalField(
        _("value of a point"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(0)],
        help_text=_("What one point costs the business when spent, in the program's currency (the liability report)."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("program rules")
        verbose_name_plural = _("program rules")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="program_single_row")]

    def __str__(self) -> str:
        return str(_("Program rules"))

    def clean(self) -> None:
        statuses = self.earning_statuses
        valid = set(OrderStatus.values) - {OrderStatus.CANCELLED, OrderStatus.REFUNDED}
        if not isinstance(statuses, list) or not statuses or not set(statuses) <= valid:
            raise ValidationError(
                {"earning_statuses": _("Choose one or more of: %(valid)s.") % {"valid": ", ".join(sorted(valid))}}
            )


class Tier(models.Model):
    """A level of membership. A member is in the highest tier whose threshold their
    spend (or order count) in the trailing window reaches."""

    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("Higher is better."))
    names = models.JSONField(
        _("name"),
        default=dict,
        help_text=_('One per language: {"en": "Gold", "da": "Guld"}.'),
        validators=[TextsInLanguages(english_required=True)],
    )
    benefits = models.JSONField(_("benefits"), default=dict, blank=True, validators=[TextsInLanguages()])
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=_("Spend, or number of orders, in the window that qualifies."),
    )
    multiplier = models.DecimalField(
        _("points multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
    )
    membership_product = models.ForeignKey(
        Product,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("membership product"),
        help_text=_("A paid order of this product holds the tier for the paid period."),
    )
    membership_months = models.PositiveSmallIntegerField(
        _("membership months"), default=12, validators=[MaxValueValidator(MAX_MONTHS)]
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative")]

    def __str__(self) -> str:
        return in_language(self.names) or f"#{self.rank}"  # in the reader's language

    def clean(self) -> None:
        """A member is in the highest-ranked tier they reach: a higher rank with a lower
        threshold than another would leave the lower tier unreachable."""
        if self.rank is None or self.threshold is None:
            return
        others = Tier.objects.exclude(pk=self.pk)
        below = others.filter(rank__lt=self.rank, threshold__gte=self.threshold).order_by("-threshold").first()
        above = others.filter(rank__gt=self.rank, threshold__lte=self.threshold).order_by("threshold").first()
        if below is not None:
            message = _("%(tier)s ranks lower and asks %(threshold)s: a higher rank needs a higher threshold.")
            raise ValidationError({"threshold": message % {"tier": below, "threshold": below.threshold}})
        if above is not None:
            message = _("%(tier)s ranks higher and asks %(threshold)s: a lower rank needs a lower threshold.")
            raise ValidationError({"threshold": message % {"tier": above, "threshold": above.threshold}})

    def name_in(self, language: str) -> str:
        return in_language(self.names, language)

    def benefits_in(self, language: str) -> str:
        return in_language(self.benefits, language)


def new_link_salt() -> str:
    return secrets.token_urlsafe(16)


class Account(models.Model):
    """A customer's membership: the balance kept in step with the ledger under this
    row's lock. `balance` is what can be spent now, `pending` what was earned and waits
    for its pending period; their sum is the sum of the entries."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="loyalty", verbose_name=_("customer")
    )
    # Big integers, as the entries': an order's points are its total times the program's
    # rate and the tier's multiplier, and a large order at a generous rate passed
    # PostgreSQL's integer (2,147,483,647): the order's post failed.
    balance = models.BigIntegerField(_("balance"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0)
    tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts", verbose_name=_("tier")
    )
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    # A paid membership holds the tier until then, whatever the spend.
    tier_held_until = models.DateTimeField(_("tier held until"), null=True, blank=True)
    # When the member stopped qualifying for their tier: the grace period runs from here.
    below_tier_since = models.DateTimeField(_("below the tier since"), null=True, blank=True)
    referral_code = models.CharField(_("referral code"), max_length=16, unique=True)
    # Rotating it revokes every link to the customer's page sent so far.
    link_salt = models.CharField(max_length=32, default=new_link_salt)
    created_at = models.DateTimeField(_("member since"), auto_now_add=True)

    class Meta:
        verbose_name = _("loyalty account")
        verbose_name_plural = _("loyalty accounts")
        permissions = [("view_loyalty_liability", _("Can view the points liability report"))]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="account_pending_not_negative"),
        ]

    def __str__(self) -> str:
        return str(self.customer)


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    REDEEM = "redeem", _("Redeemed")
    EXPIRE = "expire", _("Expired")
    CLAWBACK = "clawback", _("Refund clawback")
    ADJUST = "adjust", _("Adjustment")
    REFERRAL = "referral", _("Referral")
    BIRTHDAY = "birthday", _("Birthday")
    GOODWILL = "goodwill", _("Goodwill")


class Entry(models.Model):
    """One change of an account's points. Append-only: the only field that changes
    later is `remaining` (what is left of a credit after spending, expiry and
    clawbacks) and `pending` (cleared when the points become available)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="entries", verbose_name=_("account"), db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=EntryKind.choices)
    points = models.BigIntegerField(_("points"))
    # One entry per cause: "earn:order:42", "birthday:7:2026", "redeem:redemption:9".
    key = models.CharField(_("key"), max_length=120)
    order = models.ForeignKey(
        Order,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("order"),
    )
    redemption = models.ForeignKey(
        "Redemption",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("redemption"),
    )
    ticket = models.ForeignKey(
        "feedback.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("ticket"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # What an earn entry was computed from, so that a refund takes back exactly that.
    basis = models.DecimalField(_("amount earned on"), max_digits=12, decimal_places=2, null=True, blank=True)
    # Credits only: the points of this entry not yet spent, expired or clawed back.
    remaining = models.BigIntegerField(_("points left"), default=0)
    pending = models.BooleanField(_("pending"), default=False)
    available_at = models.DateTimeField(_("available from"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["key"], name="entry_key_unique"),
            models.CheckConstraint(condition=~Q(points=0), name="entry_points_not_zero"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("points")) | Q(points__lt=0, remaining=0),
                name="entry_remaining_within_points",
            ),
        ]
        indexes = [
            # An account's history, newest first (the customer's page, the API).
            models.Index(fields=["account", "-id"], name="entry_account_history"),
            # Credits that can still be spent, oldest expiry first (redemption, expiry).
            models.Index(
                fields=["account", "expires_at", "id"], name="entry_account_credits", condition=Q(remaining__gt=0)
            ),
            # The deadlines: pending points becoming available, and points expiring.
            models.Index(fields=["available_at", "id"], name="entry_pending_due", condition=Q(pending=True)),
            models.Index(fields=["expires_at", "id"], name="entry_expiry_due", condition=Q(remaining__gt=0)),
            models.Index(fields=["order"], name="entry_order", condition=Q(order__isnull=False)),
            # Deleting a redemption or a ticket checks its entries: without these, a scan
            # of the whole ledger per row.
            models.Index(fields=["redemption"], name="entry_redemption", condition=Q(redemption__isnull=False)),
            models.Index(fields=["ticket"], name="entry_ticket", condition=Q(ticket__isnull=False)),
            models.Index(fields=["author"], name="entry_author", condition=Q(author__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


class RewardKind(models.TextChoices):
    DISCOUNT = "discount", _("Discount code")
    FREE_SHIPPING = "free_shipping", _("Free shipping")
    GIFT = "gift", _("Gift")
    DONATION = "donation", _("Donation to a cause")


class Reward(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=RewardKind.choices)
    names = models.JSONField(
        _("name"),
        default=dict,
        help_text=_('One per language: {"en": "€5 off"}.'),
        validators=[TextsInLanguages(english_required=True)],
    )
    descriptions = models.JSONField(_("description"), default=dict, blank=True, validators=[TextsInLanguages()])
    cost = models.PositiveIntegerField(_("cost in points"), validators=[MinValueValidator(1)])
    value = models.DecimalField(
        _("value"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text=_("The discount, or the amount given to the cause, in the program's currency."),
    )
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    code_valid_days = models.PositiveIntegerField(
        _("code valid for (days)"), default=90, validators=[MaxValueValidator(MAX_DAYS)]
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["cost", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gte=1), name="reward_cost_positive"),
            models.CheckConstraint(condition=Q(stock__gte=0) | Q(stock__isnull=True), name="reward_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return in_language(self.names) or f"{self.get_kind_display()} #{self.pk}"

    def name_in(self, language: str) -> str:
        return in_language(self.names, language)

    def description_in(self, language: str) -> str:
        return in_language(self.descriptions, language)


class RedemptionStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled")


class Redemption(models.Model):
    """Points exchanged for a reward: a unique code an order can later carry."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="redemptions", verbose_name=_("loyalty account")
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward"))
    points = models.PositiveIntegerField(_("points"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RedemptionStatus.choices, default=RedemptionStatus.ISSUED
    )
    # The welcome reward is given, not bought: it costs no points.
    given = models.BooleanField(_("given"), default=False)
    expires_at = models.DateTimeField(_("valid until"), null=True, blank=True)
    used_on = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("used on")
    )
    created_at = models.DateTimeField(_("redeemed"), auto_now_add=True)
    # The customer page's form: one redemption per page load, however often it is sent.
    submission_key = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [models.UniqueConstraint(fields=["submission_key"], name="redemption_submission_unique")]

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    """A new customer's first paid order carried a member's referral code. One per new
    customer (the unique referee). The new customer is rewarded with the order; the
    referrer's reward is a deadline the minute sweep settles under the referrer's own
    lock (never two accounts locked at once, so no two orders can deadlock)."""

    referrer = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="referrals_made", verbose_name=_("referrer")
    )
    referee = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="referral", verbose_name=_("new customer")
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("order")
    )
    created_at = models.DateTimeField(_("when"))
    # The sweep's deadline: set while the referrer's reward is still to be booked.
    reward_due_at = models.DateTimeField(null=True, blank=True)
    rewarded_at = models.DateTimeField(_("referrer rewarded"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        indexes = [
            models.Index(fields=["reward_due_at"], name="referral_reward_due", condition=Q(reward_due_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.referee}"


class IdempotentRequest(models.Model):
    """The first answer to a POST that carried an Idempotency-Key: a replay with the
    same key gets it again, the same key with another body is refused."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    path = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_unique")]

    def __str__(self) -> str:
        return self.key


class LedgerDay(models.Model):
    """The ledger summed per day (TIME_ZONE), for the dashboard: rebuilt nightly from the
    entries up to `LedgerRollup.through_entry`; entries written since are added live."""

    day = models.DateField(primary_key=True)
    earned = models.BigIntegerField(default=0)  # every positive entry
    redeemed = models.BigIntegerField(default=0)  # negative: the redeem entries' sum
    expired = models.BigIntegerField(default=0)  # negative: the expire entries' sum
    net = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.net:+d}"


class LedgerRollup(models.Model):
    """What the ledger days hold: every entry up to this id, in this time zone."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    through_entry = models.BigIntegerField(default=0)
    time_zone = models.CharField(max_length=64)
    built_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"entries to {self.through_entry} ({self.time_zone})"


def page_mac(account_id: int, salt: str, expires: int) -> str:
    """The MAC of a link to a customer's loyalty page: over the account, its salt and the
    expiry, so that nothing about the link is stored."""
    return link_mac("loyalty-page", account_id, salt, expires)
