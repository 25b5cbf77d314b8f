"""Reads of the loyalty program: what a customer's page and the API show, and the
liability report. Sums are computed by the database."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.metrics.period import metrics_zone, midnight

from .models import Account, Entry, EntryKind, LedgerDay, Tier
from .rollup import rolled_up_through
from .services import program_rules, qualifying_value, tiers_by_rank

EXPIRING_SOON_DAYS = 30


def referral_link(account: Account) -> str:
    """The share link: the support site's address with the code, which the shop reads."""
    return f"{settings.LOYALTY_REFERRAL_URL or settings.SITE_URL + '/'}?ref={account.referral_code}"


def expiring_soon(account: Account, *, now: datetime, days: int = EXPIRING_SOON_DAYS) -> int:
    """Available points that expire within `days` unless spent first (one index range)."""
    return (
        Entry.objects.filter(
            account=account, remaining__gt=0, pending=False, expires_at__lte=now + timedelta(days=days)
        ).aggregate(points=Sum("remaining"))["points"]
        or 0
    )


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    next_tier: Tier | None
    value: Decimal  # spend (or orders) in the window
    missing: Decimal | None  # what is still missing to reach the next tier
    percent: int  # 0–100, towards the next tier
    by_orders: bool


def tier_progress(account: Account, *, now: datetime) -> TierProgress:
    program = program_rules()
    tiers = tiers_by_rank()
    value = qualifying_value(account.pk, now=now)
    current_rank = account.tier.rank if account.tier else -1
    next_tier = next((tier for tier in tiers if tier.rank > current_rank), None)
    missing = max(next_tier.threshold - value, Decimal(0)) if next_tier else None
    floor = account.tier.threshold if account.tier else Decimal(0)
    if next_tier is None:
        percent = 100
    elif next_tier.threshold <= floor:
        percent = 0
    else:
        percent = int(max(min((value - floor) / (next_tier.threshold - floor), 1), 0) * 100)
    return TierProgress(
        tier=account.tier,
        next_tier=next_tier,
        value=value,
        missing=missing,
        percent=percent,
        by_orders=program.tier_basis == "orders",
    )


def history(account: Account, *, before_id: int | None = None, size: int = 25) -> tuple[list[Entry], int | None]:
    """A page of the account's entries, newest first, and the id to continue before
    (keyset pagination on the (account, -id) index: as fast on page 400 as on page 1)."""
    entries = Entry.objects.filter(account=account).select_related("order", "redemption__reward")
    if before_id:
        entries = entries.filter(id__lt=before_id)
    page = list(entries.order_by("-id")[: size + 1])
    return page[:size], (page[size - 1].id if len(page) > size else None)


@dataclass(frozen=True)
class Liability:
    accounts: int
    points_available: int
    points_pending: int
    point_value: Decimal
    value: Decimal
    currency: str
    earned_12_months: int
    redeemed_12_months: int
    expired_12_months: int
    redemption_rate: Decimal | None  # redeemed / earned in the last 12 months, %

    def as_dict(self) -> dict:
        values = asdict(self)
        for name in ("point_value", "value", "redemption_rate"):
            values[name] = None if values[name] is None else str(values[name])
        return values


def liability(*, now: datetime | None = None) -> Liability:
    """Outstanding points (available and pending) and what they would cost if spent;
    how many were earned, redeemed and expired in the last 12 months (from midnight
    365 days ago, TIME_ZONE, to now)."""
    now = now or timezone.now()
    program = program_rules()
    totals = Account.objects.aggregate(
        accounts=Count("pk"), available=Sum("balance", default=0), pending=Sum("pending", default=0)
    )
    today = now.astimezone(metrics_zone()).date()
    ((flows, _gained_since),) = points_in_periods(
        [(midnight(today - timedelta(days=365)), midnight(today + timedelta(days=1)))]
    )
    outstanding = totals["available"] + totals["pending"]
    return Liability(
        accounts=totals["accounts"],
        points_available=totals["available"],
        points_pending=totals["pending"],
        point_value=program.point_value,
        value=(outstanding * program.point_value).quantize(Decimal("0.01")),
        currency=program.currency,
        earned_12_months=flows.earned,
        redeemed_12_months=flows.redeemed,
        expired_12_months=flows.expired,
        redemption_rate=flows.redemption_rate,
    )


@dataclass(frozen=True)
class PointsFlows:
    earned: int  # every positive entry: orders, bonuses, goodwill, positive adjustments
    redeemed: int
    expired: int
    net: int  # the sum of every entry

    @property
    def redemption_rate(self) -> Decimal | None:
        """Points redeemed per 100 earned, 2 decimals; None when nothing was earned."""
        return (Decimal(self.redeemed) * 100 / self.earned).quantize(Decimal("0.01")) if self.earned else None


def points_in_periods(periods: list[tuple[datetime, datetime]]) -> list[tuple[PointsFlows, int]]:
    """For each period [since, until), both midnights of TIME_ZONE: its flows, and the
    net of every entry dated from `until` on (what the ledger gained since). Two
    queries whatever the ledger's size: the nightly ledger days (loyalty.rollup), plus
    the entries written since they were built."""
    through = rolled_up_through()
    day_sums, live_sums = {}, {}
    for n, (since, until) in enumerate(periods):
        days = Q(day__gte=since.astimezone(metrics_zone()).date(), day__lt=until.astimezone(metrics_zone()).date())
        after = Q(day__gte=until.astimezone(metrics_zone()).date())
        day_sums.update(
            {
                f"earned_{n}": Sum("earned", filter=days, default=0),
                f"redeemed_{n}": Sum("redeemed", filter=days, default=0),
                f"expired_{n}": Sum("expired", filter=days, default=0),
                f"net_{n}": Sum("net", filter=days, default=0),
                f"after_{n}": Sum("net", filter=after, default=0),
            }
        )
        inside = Q(created_at__gte=since, created_at__lt=until)
        live_sums.update(
            {
                f"earned_{n}": Sum("points", filter=inside & Q(points__gt=0), default=0),
                f"redeemed_{n}": Sum("points", filter=inside & Q(kind=EntryKind.REDEEM), default=0),
                f"expired_{n}": Sum("points", filter=inside & Q(kind=EntryKind.EXPIRE), default=0),
                f"net_{n}": Sum("points", filter=inside, default=0),
                f"after_{n}": Sum("points", filter=Q(created_at__gte=until), default=0),
            }
        )
    live = Entry.objects.filter(id__gt=through).aggregate(**live_sums)
    rolled = LedgerDay.objects.aggregate(**day_sums) if through else dict.fromkeys(live, 0)
    sums = {key: rolled[key] + live[key] for key in live}
    return [
        (
            PointsFlows(
                earned=sums[f"earned_{n}"],
                redeemed=-sums[f"redeemed_{n}"],
                expired=-sums[f"expired_{n}"],
                net=sums[f"net_{n}"],
            ),
            sums[f"after_{n}"],
        )
        for n in range(len(periods))
    ]


def points_outstanding() -> int:
    """Points members hold now, spendable and pending (the sum of every entry)."""
    totals = Account.objects.aggregate(available=Sum("balance", default=0), pending=Sum("pending", default=0))
    return totals["available"] + totals["pending"]


def members_per_tier() -> list[tuple[int | None, int]]:
    """(tier id or None, members), one aggregate query."""
    return list(Account.objects.values_list("tier_id").annotate(members=Count("pk")).order_by("tier_id"))


def describe(entry: Entry, language: str) -> str:
    """What an entry means to the customer, in the page's language (the stored reason
    is for staff, in English, except a manager's adjustment, which they read as
    written)."""
    order = entry.order.external_id if entry.order_id and entry.order else ""
    if entry.kind == EntryKind.EARN:
        return _("Order %(order)s") % {"order": order} if order else _("Order")
    if entry.kind == EntryKind.REDEEM:
        reward = entry.redemption.reward.name_in(language) if entry.redemption_id and entry.redemption else ""
        return _("Redeemed: %(reward)s") % {"reward": reward} if reward else _("Redeemed")
    if entry.kind == EntryKind.CLAWBACK:
        return _("Refund of order %(order)s") % {"order": order} if order else _("Refund")
    if entry.kind == EntryKind.EXPIRE:
        return _("Expired")
    if entry.kind == EntryKind.REFERRAL:
        return _("Referral bonus")
    if entry.kind == EntryKind.BIRTHDAY:
        return _("Birthday bonus")
    if entry.kind == EntryKind.GOODWILL:
        return _("A gift from customer care")
    return entry.reason or _("Adjustment")


def tier_rank_of(customer_id: int) -> int | None:
    """The rank of the customer's tier (None: no account or no tier): what an SLA
    policy for a tier compares (one primary-key lookup)."""
    return Account.objects.filter(pk=customer_id).values_list("tier__rank", flat=True).first()
