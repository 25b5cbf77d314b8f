"""Every write of the loyalty program: the ledger (earn, redeem, expire, clawback,
adjust, goodwill, referral, birthday), tiers, and the sweeps that release pending points
and expire old ones.

The rules every write keeps (DESIGN.md, mechanism 3):
- An account's row is locked (SELECT … FOR UPDATE) before its entries are read or
  written, and its `balance` and `pending` change in the same transaction as the
  entries: they always equal what the entries say. Locking the account first, always,
  also means two writers never wait on each other in opposite orders.
- Each entry has a unique key naming its cause; writing a cause twice (a retried task, a
  re-imported order, two requests at once) writes nothing the second time.
- Spending takes the credits that expire first (then the oldest): each credit's
  `remaining` says what is left of it, so expiry takes exactly the unspent points.
- The database refuses a negative balance (CHECK): a bug cannot overspend.
"""

import calendar
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Message, Order, OrderStatus
from retention_crm.db import (
    RawRows,
    Rows,
    insert_unless_taken,
    insert_unless_taken_sql,
    mark_inserted,
    rows_together,
    update_rows,
)
from retention_crm.errors import Conflict

from . import notices
from .models import (
    Account,
    Entry,
    EntryKind,
    Program,
    Redemption,
    RedemptionStatus,
    Referral,
    Reward,
    Rounding,
    Tier,
    TierBasis,
    new_link_salt,
)

logger = logging.getLogger(__name__)

# --- The rules, read once in a while ----------------------------------------------------

# The program and its tiers are read on every order and change a few times a year: each
# process keeps them this many seconds (the process that changes them forgets at once).
RULES_CACHE_SECONDS = 30
_rules: tuple[float, Program, list[Tier]] | None = None


def _load_rules() -> tuple[Program, list[Tier]]:
    global _rules
    now = time.monotonic()
    if _rules is None or now - _rules[0] > RULES_CACHE_SECONDS:
        program, _created = Program.objects.select_related("welcome_reward").get_or_create(id=1)
        _rules = (now, program, list(Tier.objects.order_by("rank")))
    return _rules[1], _rules[2]


def program_rules() -> Program:
    return _load_rules()[0]


def tiers_by_rank() -> list[Tier]:
    return _load_rules()[1]


def forget_rules(**kwargs) -> None:
    global _rules
    _rules = None


# --- Accounts ----------------------------------------------------------------------------

# Codes people read aloud and type: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERRAL_CODE_LENGTH = 8  # 31^8 ≈ 8.5e11 codes; lookups are rate-limited


def new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _i in range(length))


def normalise_code(code: str) -> str:
    """A code as typed (lower case, spaces, dashes) in its stored form."""
    return "".join(character for character in code.upper() if character.isalnum())[:32]


def account_ensure(customer_ids: Iterable[int]) -> None:
    """Open an account for each of these customers that has none (at once, in one
    statement; two callers at once create each account once)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    known = set(Account.objects.filter(customer_id__in=ids).values_list("customer_id", flat=True))
    missing = [Account(customer_id=pk, referral_code=new_code(REFERRAL_CODE_LENGTH)) for pk in ids if pk not in known]
    if missing:
        # A clash of random codes is as unlikely as it gets; a conflict on the customer
        # means another transaction opened the account first. Both: nothing written.
        Account.objects.bulk_create(missing, ignore_conflicts=True)
        still_missing = set(ids) - set(
            Account.objects.filter(customer_id__in=ids).values_list("customer_id", flat=True)
        )
        if still_missing:
            account_ensure(still_missing)


def _account_row_locked(customer_id: int, then: tuple[str, list] | None = None) -> tuple[Account | None, tuple | None]:
    """The customer's account row, locked for this transaction (None when there is
    none), and the first row of the query `then` (sql, params), if given.

    This runs on every earning order and every redemption: without the ORM's query
    compilation, and with `then` in the same round trip, as a second statement that
    takes its own snapshot after the lock is granted, so it sees whatever the
    transaction that held the lock committed (rows_together)."""
    reads = [Rows(Account, "customer_id = %s", [customer_id], lock=True)]
    if then is not None:
        reads.append(RawRows(*then))
    accounts, *then_rows = rows_together(*reads)
    return next(iter(accounts), None), next(iter(then_rows[0]), None) if then_rows else None


def _locked(customer_id: int) -> Account:
    """The customer's account, locked for this transaction (opened if need be), its tier
    taken from the cached rules rather than read again."""
    return _locked_and_read(customer_id)[0]


def _locked_and_read(customer_id: int, then: tuple[str, list] | None = None) -> tuple[Account, tuple | None]:
    """`_locked`, and the row of the query `then`, read after the lock."""
    account, then_row = _account_row_locked(customer_id, then)
    while account is None:
        # The customer's first points: open the account (one INSERT … ON CONFLICT DO
        # NOTHING, which a twin request opening it at once cannot break; a clash of
        # random codes writes nothing and goes round again) and lock it with `then`.
        insert_unless_taken(Account(customer_id=customer_id, referral_code=new_code(REFERRAL_CODE_LENGTH)))
        account, then_row = _account_row_locked(customer_id, then)
    if account.tier_id is not None:
        cached = next((tier for tier in tiers_by_rank() if tier.pk == account.tier_id), None)
        if cached is not None:
            account.tier = cached
    return account, then_row


# --- Writing entries (under the account's lock) ------------------------------------------


def _save_balance(account: Account) -> None:
    Account.objects.filter(pk=account.pk).update(balance=account.balance, pending=account.pending)


def _insert(entry: Entry) -> Entry | None:
    """Save an entry; None when its key exists (this cause was booked already)."""
    return entry if insert_unless_taken(entry, "key") else None


def _credit(
    account: Account,
    *,
    kind: str,
    points: int,
    key: str,
    now: datetime,
    pending_until: datetime | None = None,
    **fields,
) -> Entry | None:
    """Book points for the account (locked by the caller). Pending points wait until
    `pending_until`; all expire `expiry_months` after they are booked."""
    if points <= 0:
        return None
    program = program_rules()
    pending = pending_until is not None and pending_until > timezone.now()
    entry = Entry(
        account=account,
        kind=kind,
        points=points,
        key=key,
        remaining=points,
        pending=pending,
        available_at=pending_until or now,
        expires_at=now + relativedelta(months=program.expiry_months) if program.expiry_months else None,
        created_at=now,
        **fields,
    )
    return entry if _insert_and_add(entry, account, "pending" if pending else "balance") else None


def _insert_and_add(entry: Entry, account: Account, field: str) -> bool:
    """Insert the entry unless its key is taken and, when it went in, add its points to
    the account's `field` (balance or pending): on PostgreSQL one statement (a
    data-modifying WITH), elsewhere two. False when the key was taken (nothing written)."""
    if connection.vendor != "postgresql":
        if _insert(entry) is None:
            return False
        setattr(account, field, getattr(account, field) + entry.points)
        _save_balance(account)
        return True
    insert, params = insert_unless_taken_sql(entry, "key")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH entry AS ({insert}),"
            f" account AS (UPDATE {connection.ops.quote_name(Account._meta.db_table)} SET {field} = {field} + %s"
            " WHERE customer_id = %s AND EXISTS (SELECT 1 FROM entry) RETURNING 1)"
            " SELECT id FROM entry",
            [*params, entry.points, account.pk],
        )
        if not mark_inserted(entry, cursor.fetchone()):
            return False
    setattr(account, field, getattr(account, field) + entry.points)
    return True


def _consume(account: Account, points: int, *, include_pending_of: Entry | None = None) -> int:
    """Take up to `points` from the account's credits, those expiring first (then the
    oldest) first; returns how many were taken. Only available credits are spent,
    except `include_pending_of` (a clawback takes its own order's pending points)."""
    taken = 0
    if include_pending_of is not None and include_pending_of.remaining > 0:
        own = min(points, include_pending_of.remaining)
        Entry.objects.filter(pk=include_pending_of.pk).update(remaining=include_pending_of.remaining - own)
        if include_pending_of.pending:
            account.pending -= own
        else:
            account.balance -= own
        include_pending_of.remaining -= own
        taken += own
    if taken < points and account.balance > 0:
        credits = (
            Entry.objects.filter(account=account, remaining__gt=0, pending=False)
            .order_by("expires_at", "id")
            .values_list("id", "remaining")
        )
        changed: list[Entry] = []

        # A hundred credits cover nearly every spend in one read; a spend that needs
        # more (hundreds of small credits) reads the rest.
        def oldest_first():
            first = list(credits[:100])
            yield from first
            if len(first) == 100:
                yield from credits[100:]

        for entry_id, remaining in oldest_first():
            if taken >= points or account.balance == 0:
                break
            part = min(remaining, points - taken, account.balance)
            changed.append(Entry(pk=entry_id, remaining=remaining - part))
            account.balance -= part
            taken += part
        update_rows(Entry, changed, ["remaining"])
    return taken


def _require(account: Account, points: int) -> None:
    if points > account.balance:
        raise Conflict(
            _("Not enough points: %(balance)d available, %(points)d needed.")
            % {"balance": account.balance, "points": points},
            code="insufficient_points",
        )


def _debit(account: Account, *, kind: str, points: int, key: str, now: datetime, **fields) -> Entry:
    """Spend `points` of the available balance (the account is locked by the caller)."""
    _require(account, points)
    entry = Entry(account=account, kind=kind, points=-points, key=key, created_at=now, **fields)
    if connection.vendor == "postgresql":
        booked = _spend_in_one_statement(account, entry)
    else:
        _consume(account, points)
        booked = _insert(entry) is not None
        if booked:
            _save_balance(account)
    if not booked:
        raise Conflict(_("This was booked already."), code="duplicate")
    return entry


def _spend_in_one_statement(account: Account, entry: Entry) -> bool:
    """`_consume`, the debit entry and the balance in one statement (PostgreSQL): the
    credits that expire first (then the oldest) are read in order, at most one per point
    (each holds at least one), and each gives what is left of the spend after the ones
    before it. False when the entry's key is taken (nothing written)."""
    points = -entry.points
    insert, params = insert_unless_taken_sql(entry, "key")
    quote = connection.ops.quote_name
    table = quote(Entry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH entry AS ({insert}),"
            " credits AS (SELECT id, remaining, sum(remaining) OVER (ORDER BY expires_at, id) - remaining AS before"
            f"  FROM (SELECT id, remaining, expires_at FROM {table}"
            "   WHERE account_id = %s AND remaining > 0 AND NOT pending ORDER BY expires_at, id LIMIT %s) oldest),"
            f" taken AS (UPDATE {table} e SET remaining = e.remaining - least(c.remaining, %s - c.before)"
            "  FROM credits c WHERE e.id = c.id AND c.before < %s AND EXISTS (SELECT 1 FROM entry)"
            "  RETURNING least(c.remaining, %s - c.before) AS part),"
            f" account AS (UPDATE {quote(Account._meta.db_table)} SET balance = balance - %s"
            "  WHERE customer_id = %s AND EXISTS (SELECT 1 FROM entry) RETURNING balance)"
            " SELECT entry.id, (SELECT sum(part) FROM taken), (SELECT balance FROM account) FROM entry",
            [*params, account.pk, points, points, points, points, points, account.pk],
        )
        row = cursor.fetchone()
    if not mark_inserted(entry, row):
        return False
    _id, taken, account.balance = row
    if taken != points:
        # The balance said the credits hold enough and they do not: the ledger is out
        # of step with itself. Nothing of this spend is kept (the caller's transaction).
        raise RuntimeError(f"Account {account.pk}: credits hold {taken or 0} of the {points} points spent")
    return True


# --- Earning from orders ----------------------------------------------------------------


def round_points(value: Decimal, rounding: str) -> int:
    mode = {Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING, Rounding.HALF_UP: ROUND_HALF_UP}[rounding]
    return int(value.quantize(Decimal(1), rounding=mode))


def points_for(amount: Decimal, tier: Tier | None, program: Program | None = None) -> int:
    program = program or program_rules()
    multiplier = tier.multiplier if tier else Decimal(1)
    return max(round_points(amount * program.points_per_unit * multiplier, program.rounding), 0)


def _refunded_share(order: Order) -> Decimal:
    """How much of an order has been given back: all of it when cancelled or refunded."""
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        return Decimal(1)
    if order.total > 0 and order.refunded_total > 0:
        return min(order.refunded_total / order.total, Decimal(1))
    return Decimal(0)


# Up to this many orders (an API call, an admin edit) are booked one by one; more (an
# import) go through the set-based SQL of bulk.py on PostgreSQL.
BULK_AFTER_ORDERS = 50


def _order_points(order: Order, earned: Entry | None, *, program: Program, now: datetime) -> None:
    """One order's points in line with its state (`earned`: its earn entry, if any)."""
    share = _refunded_share(order)
    if earned is None and share == 0 and order.status in program.earning_statuses:
        _earn(order, program=program, now=now)
    elif earned is not None and share > 0:
        _clawback(order, earned, share=share, now=now)


def order_points_new(*, order: Order, now: datetime | None = None) -> None:
    """`orders_points_update` for an order just created (the API's POST): it is in
    memory and has no entries yet, so nothing needs reading first."""
    if order.discount_code:
        redemption_use(code=order.discount_code, order=order)
    _order_points(order, None, program=program_rules(), now=now or timezone.now())


def orders_points_update(*, order_ids: Iterable[int], now: datetime | None = None) -> None:
    """Bring the points of these orders in line with their state: an order that has an
    earning status earns once; a cancelled, refunded or partly refunded order gives
    back its share of what it earned. Called in the transaction that changed the orders
    (order_save, the imports); idempotent, so calling it again for an order that did
    not change writes nothing."""
    now = now or timezone.now()
    order_ids = list(order_ids)
    if connection.vendor == "postgresql" and len(order_ids) > BULK_AFTER_ORDERS:
        from .bulk import orders_points_bulk

        orders_points_bulk(order_ids, now=now)
        return
    program = program_rules()
    orders = list(
        Order.objects.filter(pk__in=order_ids).only(
            "id",
            "external_id",
            "customer_id",
            "status",
            "total",
            "refunded_total",
            "currency",
            "placed_at",
            "discount_code",
        )
    )
    if not orders:
        return
    earned = {
        entry.order_id: entry
        for entry in Entry.objects.filter(order_id__in=[order.pk for order in orders], kind=EntryKind.EARN)
    }
    for order in orders:
        if order.discount_code:
            redemption_use(code=order.discount_code, order=order)
    for order in sorted(orders, key=lambda order: (order.customer_id, order.pk)):
        _order_points(order, earned.get(order.pk), program=program, now=now)


def _earn(order: Order, *, program: Program, now: datetime) -> Entry | None:
    """Book what an order earns. The points date from the order (an imported order of
    last year earns points that are spendable and expiring as if booked then), at the
    rate of the tier the customer has once this order counts."""
    # The tier's figures are read in the lock's round trip (when there are tiers).
    then = _qualifying_query(order.customer_id, now=now, order=order) if tiers_by_rank() else None
    account, qualifying = _locked_and_read(order.customer_id, then)
    if Order.customer.is_cached(order):
        account.customer = order.customer  # the thank-you email's customer, without a query
    membership = _membership_from(order, account, now=now)
    tier_upgrade(account=account, now=now, order=order, qualifying=qualifying)
    if order.currency != program.currency:
        return None
    earned_at = min(order.placed_at, now)
    points = points_for(order.total, account.tier, program)
    reason = _("Order %(order)s") % {"order": order.external_id}
    entry = _credit(
        account,
        kind=EntryKind.EARN,
        points=points,
        key=f"earn:order:{order.pk}",
        now=earned_at,
        pending_until=earned_at + timedelta(days=program.pending_days),
        order=order,
        basis=order.total,
        reason=reason[:500],
    )
    if membership:
        logger.info("Membership: customer %s holds tier %s until %s", account.pk, account.tier, membership)
    _after_first_paid_order(account, order=order, earned=entry.points if entry else 0, program=program, now=now)
    return entry


def _clawback(order: Order, entry: Entry, *, share: Decimal, now: datetime) -> Entry | None:
    """Take back `share` of what this order earned (what it earned then, at that
    moment's rate and tier, not what today's rules would give). The key holds the total
    owed so far, so each new refund of the same order books only the difference."""
    owed = round_points(entry.points * share, Rounding.HALF_UP)
    # The account that earned them: an order moved to another customer since then
    # takes its points back from whoever got them.
    account = _locked(entry.account_id)
    already = -(Entry.objects.filter(order=order, kind=EntryKind.CLAWBACK).aggregate(total=Sum("points"))["total"] or 0)
    wanted = owed - already
    key = f"clawback:order:{order.pk}:{owed}"
    if wanted <= 0 or Entry.objects.filter(key=key).exists():
        # Nothing more owed; or this much was asked for before and the rest could not
        # be taken (it had been spent): written off then, not asked for again.
        return None
    entry.refresh_from_db(fields=["remaining", "pending"])
    taken = _consume(account, wanted, include_pending_of=entry)
    reason = _("Refund of order %(order)s") % {"order": order.external_id}
    if taken < wanted:
        # The points were spent already: the balance cannot go below zero, so what
        # cannot be taken is written off, and said so.
        reason += " " + _("(%(missing)d points had been spent already)") % {"missing": wanted - taken}
    if taken == 0:
        logger.info("Clawback of order %s: nothing left to take back", order.pk)
        return None
    clawback = Entry(
        account=account,
        kind=EntryKind.CLAWBACK,
        points=-taken,
        key=key,
        order=order,
        reason=reason[:500],
        created_at=now,
    )
    if _insert(clawback) is None:
        return None
    _save_balance(account)
    return clawback


def _membership_from(order: Order, account: Account, *, now: datetime) -> datetime | None:
    """A paid order of a tier's membership product holds that tier for its months."""
    sold = [tier for tier in tiers_by_rank() if tier.membership_product_id]
    if not sold:
        return None
    bought = set(order.lines.values_list("product_id", flat=True))
    for tier in reversed(sold):  # the best tier bought
        if tier.membership_product_id in bought:
            start = max(account.tier_held_until or now, now)
            account.tier_held_until = start + relativedelta(months=tier.membership_months)
            changes = {"tier_held_until": account.tier_held_until, "below_tier_since": None}
            if account.tier is None or account.tier.rank < tier.rank:
                _change_tier(account, tier, now=now)
            Account.objects.filter(pk=account.pk).update(**changes)
            return account.tier_held_until
    return None


# An order older than this (an import of last year's orders) earns its points but
# brings no thank-you email.
THANKS_RECENT_DAYS = 2


def _is_first_paid_order(order: Order, program: Program) -> bool:
    """No earning order of the customer came before this one (one index probe; `_earn`
    reads it with the tier figure when it can)."""
    if hasattr(order, "earlier_earning_orders"):
        return order.earlier_earning_orders == 0
    return not (
        Order.objects.filter(customer_id=order.customer_id, status__in=program.earning_statuses)
        .filter(Q(placed_at__lt=order.placed_at) | Q(placed_at=order.placed_at, pk__lt=order.pk))
        .exists()
    )


def _after_first_paid_order(account: Account, *, order: Order, earned: int, program: Program, now: datetime) -> None:
    """The first paid order brings the thank-you email (half an hour later, with the
    welcome code when the program has one) and settles a referral code it carries."""
    recent = order.placed_at >= now - timedelta(days=THANKS_RECENT_DAYS)
    if not (recent or order.discount_code) or not _is_first_paid_order(order, program):
        return
    customer = account.customer
    if order.discount_code:
        _refer(account, customer=customer, order=order, program=program, now=now)
    if recent:
        _thank_for_first_order(account, customer=customer, order=order, earned=earned, program=program, now=now)


def _thank_for_first_order(account, *, customer, order, earned: int, program: Program, now: datetime) -> None:
    key = f"{notices.FIRST_PURCHASE_THANKS}:{customer.pk}"
    if not notices.may_email(customer) or Message.objects.filter(key=key).exists():
        return
    context = {"order": order.external_id, "points": earned, "welcome_code": "", "welcome_reward": None}
    reward = program.welcome_reward
    if reward is not None and reward.active:
        welcome = _issue(account, reward, now=now, points=0, given=True)
        context.update(welcome_code=welcome.code, welcome_reward=reward.pk)
    notices.loyalty_email(
        customer,
        kind=notices.FIRST_PURCHASE_THANKS,
        key=key,
        context=context,
        send_at=now + timedelta(minutes=settings.LOYALTY_THANKS_DELAY_MINUTES),
    )


# --- Referrals ---------------------------------------------------------------------------


def _digits(phone: str) -> str:
    return "".join(character for character in phone or "" if character.isdigit())


def self_referral(referrer: Customer, referee: Customer) -> bool:
    """The same person on both sides: the same customer, email or phone. (The project
    keeps no postal addresses; a shop that sends them would compare those here too.)"""
    if referrer.pk == referee.pk:
        return True
    if referrer.email and referee.email and referrer.email.strip().lower() == referee.email.strip().lower():
        return True
    phone = _digits(referrer.phone)
    return len(phone) >= 6 and phone == _digits(referee.phone)


def _refer(account: Account, *, customer: Customer, order: Order, program: Program, now: datetime) -> None:
    """A first paid order carrying a member's referral code: the new customer gets
    their points now (their account is locked); the referrer's reward is left to the
    sweep (see Referral). One referral per new customer, whatever is retried."""
    referrer = (
        Account.objects.select_related("customer").filter(referral_code=normalise_code(order.discount_code)).first()
    )
    if referrer is None:
        return
    if self_referral(referrer.customer, customer):
        logger.info("Referral refused: customer %s used their own code on order %s", customer.pk, order.pk)
        return
    try:
        with transaction.atomic():
            Referral.objects.create(referrer=referrer, referee=account, order=order, created_at=now, reward_due_at=now)
    except IntegrityError:
        return  # this new customer was referred before
    _credit(
        account,
        kind=EntryKind.REFERRAL,
        points=program.referee_points,
        key=f"referral:new:{account.pk}",
        now=now,
        order=order,
        reason=_("Welcome from %(name)s") % {"name": referrer.customer.name or referrer.referral_code},
    )


def referrer_points(program: Program, successful_before: int) -> int:
    """The referrer's reward, growing by the bonus after every N successful referrals."""
    if not program.referral_bonus_every:
        return program.referrer_points
    return program.referrer_points + program.referral_bonus_points * (successful_before // program.referral_bonus_every)


def referral_reward_sweep(*, now: datetime | None = None, batch: int = 200) -> int:
    """Book the referrers' rewards that are due: each under that referrer's lock alone."""
    now = now or timezone.now()
    done = 0
    for _round in range(batch):
        with transaction.atomic():
            referral = (
                Referral.objects.select_for_update(skip_locked=True)
                .filter(reward_due_at__lte=now)
                .order_by("reward_due_at")
                .first()
            )
            if referral is None:
                break
            program = program_rules()
            referrer = _locked(referral.referrer_id)
            before = Referral.objects.filter(referrer_id=referrer.pk, rewarded_at__isnull=False).count()
            points = referrer_points(program, before)
            entry = _credit(
                referrer,
                kind=EntryKind.REFERRAL,
                points=points,
                key=f"referral:referrer:{referral.referee_id}",
                now=now,
                order_id=referral.order_id,
                reason=_("A friend you invited placed their first order"),
            )
            Referral.objects.filter(pk=referral.pk).update(reward_due_at=None, rewarded_at=now)
            if entry is not None:
                notices.loyalty_email(
                    Customer.objects.get(pk=referrer.pk),
                    kind=notices.REFERRAL_REWARD,
                    key=f"{notices.REFERRAL_REWARD}:{referral.referee_id}",
                    context={"points": points},
                )
            done += 1
    return done


# --- Birthdays ---------------------------------------------------------------------------

BIRTHDAY_HOUR = 9  # the greeting goes out from 9 in the morning, the customer's time


def _birthday_in(year: int, birthday) -> tuple[int, int]:
    """(month, day) of the birthday in `year`: 29 February is celebrated on the 28th
    in other years."""
    if (birthday.month, birthday.day) == (2, 29) and not calendar.isleap(year):
        return 2, 28
    return birthday.month, birthday.day


def birthday_sweep(*, now: datetime | None = None) -> int:
    """Give the birthday bonus (and greeting) to members whose birthday it is now in
    their own time zone, from BIRTHDAY_HOUR on. Once a year: the entry and the email
    have keys with the year. Run hourly; a sweep missed for a day is made up only for
    that day's birthdays (a belated bonus would confuse more than it pleases)."""
    now = now or timezone.now()
    program = program_rules()
    days = [(now + timedelta(days=offset)).date() for offset in (-1, 0, 1)]
    wanted = Q()
    for day in days:
        wanted |= Q(customer__birthday__month=day.month, customer__birthday__day=day.day)
        if (day.month, day.day) == (2, 28):
            wanted |= Q(customer__birthday__month=2, customer__birthday__day=29)
    due = []
    for account in Account.objects.select_related("customer").filter(wanted):
        customer = account.customer
        local = now.astimezone(zone_of(customer.time_zone))
        if (local.month, local.day) == _birthday_in(local.year, customer.birthday) and local.hour >= BIRTHDAY_HOUR:
            due.append((account, f"birthday:{account.pk}:{local.year}"))
    booked = set(Entry.objects.filter(key__in=[key for _account, key in due]).values_list("key", flat=True))
    given = 0
    for account, key in due:
        if key in booked:
            continue
        with transaction.atomic():
            locked = _locked(account.pk)
            entry = _credit(
                locked,
                kind=EntryKind.BIRTHDAY,
                points=program.birthday_points,
                key=key,
                now=now,
                reason=_("Happy birthday!"),
            )
            if entry is not None or not program.birthday_points:
                notices.loyalty_email(
                    account.customer, kind=notices.BIRTHDAY, key=key, context={"points": program.birthday_points}
                )
                given += 1
    return given


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- Points about to expire --------------------------------------------------------------

EXPIRY_WARNING_DAYS = 30


def expiring_points_notify(*, now: datetime | None = None, chunk: int = 1000) -> int:
    """Tell members whose available points expire within 30 days: one email per member
    and month of the first expiry (so at most monthly), in chunks of one INSERT."""
    now = now or timezone.now()
    rows = (
        Entry.objects.filter(
            remaining__gt=0,
            pending=False,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=EXPIRY_WARNING_DAYS),
        )
        .values("account_id")
        .annotate(points=Sum("remaining"), first=Min("expires_at"))
        .order_by("account_id")
    )
    written = 0
    batch: list[dict] = []

    def flush() -> int:
        keys = {
            row["account_id"]: f"{notices.POINTS_EXPIRING}:{row['account_id']}:{row['first']:%Y-%m}" for row in batch
        }
        known = set(Message.objects.filter(key__in=keys.values()).values_list("key", flat=True))
        customers = Customer.objects.in_bulk([pk for pk, key in keys.items() if key not in known])
        messages = notices.loyalty_emails(
            (
                customers[row["account_id"]],
                notices.POINTS_EXPIRING,
                keys[row["account_id"]],
                {"points": row["points"], "expires_at": row["first"].isoformat()},
                None,
            )
            for row in batch
            if row["account_id"] in customers
        )
        return sum(1 for message in messages if message is not None and message.written)

    for row in rows.iterator(chunk_size=chunk):
        batch.append(row)
        if len(batch) >= chunk:
            written += flush()
            batch = []
    if batch:
        written += flush()
    return written


# --- Tiers -------------------------------------------------------------------------------


def qualifying_value(customer_id: int, *, now: datetime, order: Order | None = None) -> Decimal:
    """The customer's spend (or number of orders) in the trailing tier window. Given the
    order being booked, the same index range also counts the customer's earning orders
    before it (set on the order: is it their first?)."""
    with connection.cursor() as cursor:
        cursor.execute(*_qualifying_query(customer_id, now=now, order=order))
        return _qualifying_result(cursor.fetchone(), order)


def _qualifying_query(customer_id: int, *, now: datetime, order: Order | None = None) -> tuple[str, list]:
    """qualifying_value's query, as raw SQL: it runs on every earning order, and the
    ORM's compiling of the filtered aggregates cost more than the query."""
    program = program_rules()
    adapt = connection.ops.adapt_datetimefield_value
    window = "placed_at >= %s AND placed_at <= %s"
    window_params = [adapt(now - relativedelta(months=program.tier_window_months)), adapt(now)]
    measure = "count(*)" if program.tier_basis == TierBasis.ORDERS else "sum(total)"
    statuses = list(program.earning_statuses)
    if order is not None:
        # Every earning order of the customer is read: those in the window measured,
        # those before this one counted.
        figures = (
            f"count(*) FILTER (WHERE placed_at < %s OR (placed_at = %s AND id < %s)), {measure} FILTER (WHERE {window})"
        )
        params = [adapt(order.placed_at), adapt(order.placed_at), order.pk, *window_params]
        where, where_params = "", []
    else:
        figures, params = f"0, {measure}", []
        where, where_params = f" AND {window}", window_params
    return (
        f"SELECT {figures} FROM {connection.ops.quote_name(Order._meta.db_table)}"
        f" WHERE customer_id = %s AND status IN ({', '.join('%s' for _status in statuses)}){where}",
        [*params, customer_id, *statuses, *where_params],
    )


def _qualifying_result(row: tuple, order: Order | None) -> Decimal:
    earlier_count, total = row
    if order is not None:
        order.earlier_earning_orders = earlier_count
    # SQLite sums decimals as floats: back to cents.
    return Decimal(str(total or 0)).quantize(Decimal("0.01"))


def tier_for_value(value: Decimal) -> Tier | None:
    qualified = None
    for tier in tiers_by_rank():
        if value >= tier.threshold:
            qualified = tier
    return qualified


def _change_tier(account: Account, tier: Tier | None, *, now: datetime) -> None:
    old = account.tier
    account.tier = tier
    account.tier_since = now
    account.below_tier_since = None
    Account.objects.filter(pk=account.pk).update(tier=tier, tier_since=now, below_tier_since=None)
    tier_changed_notify(account=account, old=old, new=tier, now=now)


def tier_upgrade(
    *, account: Account, now: datetime, order: Order | None = None, qualifying: tuple | None = None
) -> bool:
    """Raise the account's tier at once when its spend qualifies for a higher one (the
    account is locked by the caller; `qualifying`: the row of `_qualifying_query` if the
    caller read it after the lock). Downgrades wait for the nightly evaluation."""
    tiers = tiers_by_rank()
    if not tiers:
        return False
    if account.tier_id is not None and account.tier_id == tiers[-1].pk and not account.below_tier_since:
        return False  # at the top already, and not in a grace period: nothing to read
    if qualifying is not None:
        value = _qualifying_result(qualifying, order)
    else:
        value = qualifying_value(account.pk, now=now, order=order)
    target = tier_for_value(value)
    current_rank = account.tier.rank if account.tier else -1
    if target is not None and target.rank > current_rank:
        _change_tier(account, target, now=now)
        return True
    if target is not None and target.rank == current_rank and account.below_tier_since:
        account.below_tier_since = None
        Account.objects.filter(pk=account.pk).update(below_tier_since=None)
    return False


def tier_changed_notify(*, account: Account, old: Tier | None, new: Tier | None, now: datetime) -> None:
    """The tier_changed email."""
    tiers_changed_notify([TierChange(account.pk, old.pk if old else None, new.pk if new else None)], now=now)


# --- Redeeming ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    entry: Entry | None
    balance: int


def points_redeem(
    *, customer: Customer, reward: Reward, key: str | None = None, now: datetime | None = None
) -> Redeemed:
    """Exchange points for a reward: a unique code, the points taken from the credits
    that expire first. Too few points (or none of the reward left) is a Conflict.

    Twenty requests for the whole balance at once: the first to lock the account
    spends it; the others then find the balance too low. `key` (the customer page's
    form, `form_submission_key`) makes the same form sent twice one redemption: looked
    up under the account's lock, which a second post at the same moment waits for."""
    now = now or timezone.now()
    if not reward.active:
        raise Conflict(_("This reward is no longer offered."), code="reward_inactive")
    with transaction.atomic():
        account = _locked(customer.pk)
        account.customer = customer  # for whoever shows the redemption (no query)
        earlier = Redemption.objects.filter(submission_key=key).first() if key else None
        if earlier is not None:
            entry = Entry.objects.filter(redemption=earlier, kind=EntryKind.REDEEM).first()
            return Redeemed(redemption=earlier, entry=entry, balance=account.balance)
        _require(account, reward.cost)  # before the stock is touched
        # A conditional UPDATE: two redemptions of the last one cannot both succeed.
        if reward.stock is not None and not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(
            stock=F("stock") - 1
        ):
            raise Conflict(_("This reward is out of stock."), code="out_of_stock")
        redemption = _issue(account, reward, now=now, points=reward.cost, submission_key=key)
        entry = _debit(
            account,
            kind=EntryKind.REDEEM,
            points=reward.cost,
            key=f"redeem:redemption:{redemption.pk}",
            now=now,
            redemption=redemption,
            reason=reward.name_in("en")[:500],
        )
    return Redeemed(redemption=redemption, entry=entry, balance=account.balance)


def reward_codes_give(*, customer_ids: list[int], reward: Reward, now: datetime) -> dict[int, Redemption]:
    """A code for `reward` to each of these customers, costing no points (a campaign's
    offer): {customer id: redemption}. Opens the accounts that are missing."""
    account_ensure(customer_ids)
    accounts = Account.objects.in_bulk(customer_ids)
    return {pk: _issue(accounts[pk], reward, now=now, points=0, given=True) for pk in customer_ids}


def _issue(
    account: Account,
    reward: Reward,
    *,
    now: datetime,
    points: int,
    given: bool = False,
    submission_key: str | None = None,
) -> Redemption:
    """A redemption with a new random code (the same code drawn twice, about never:
    draw again)."""
    redemption = Redemption(
        account=account,
        reward=reward,
        points=points,
        given=given,
        submission_key=submission_key,
        status=RedemptionStatus.ISSUED,
        expires_at=now + timedelta(days=reward.code_valid_days) if reward.code_valid_days else None,
        created_at=now,
    )
    for _attempt in range(5):
        redemption.code = new_code(10)
        if insert_unless_taken(redemption, "code"):
            return redemption
    raise RuntimeError("Could not draw a unique reward code")


def redemption_use(*, code: str, order: Order) -> bool:
    """Mark a reward code as used by the order that carries it (`discount_code`); False
    when it is no issued code of ours (a shop's own discount code, say), or the order is
    below the program's minimum for using points (the code stays valid: the shop should
    not have taken it, and the customer keeps it)."""
    if order.total < program_rules().min_order_to_use_points:
        logger.warning("Order %s carries reward code %s below the minimum order value", order.pk, code)
        return False
    return bool(
        Redemption.objects.filter(code=normalise_code(code), status=RedemptionStatus.ISSUED).update(
            status=RedemptionStatus.USED, used_on=order
        )
    )


# --- Adjustments and goodwill -----------------------------------------------------------


def points_adjust(
    *, customer: Customer, points: int, reason: str, author, key: str | None = None, now: datetime | None = None
) -> Entry:
    """A manager's correction, up or down, with the reason on the entry. `key` (the
    admin form's, `form_submission_key`) makes the form sent twice one adjustment: the
    entry with that key is looked up under the account's lock and returned."""
    now = now or timezone.now()
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise ValidationError({"points": _("Give a whole number of points other than 0.")})
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why the points are adjusted.")})
    with transaction.atomic():
        account = _locked(customer.pk)
        earlier = Entry.objects.filter(key=f"adjust:{key}").first() if key else None
        if earlier is not None:
            return earlier
        key = f"adjust:{key or secrets.token_hex(8)}"
        if points > 0:
            entry = _credit(
                account, kind=EntryKind.ADJUST, points=points, key=key, now=now, author=author, reason=reason[:500]
            )
        else:
            entry = _debit(
                account, kind=EntryKind.ADJUST, points=-points, key=key, now=now, author=author, reason=reason[:500]
            )
    return entry


def points_goodwill(
    *, ticket, points: int, author, reason: str = "", key: str | None = None, now: datetime | None = None
) -> Entry:
    """Points given to the customer of a ticket as an apology, at most the program's cap
    per ticket in all. `key` (the admin form's) makes the form sent twice one gift."""
    now = now or timezone.now()
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise ValidationError({"points": _("Give a whole number of points above 0.")})
    cap = program_rules().goodwill_cap_per_ticket
    with transaction.atomic():
        account = _locked(ticket.customer_id)
        earlier = Entry.objects.filter(key=f"goodwill:{key}").first() if key else None
        if earlier is not None:
            return earlier
        given = Entry.objects.filter(ticket=ticket, kind=EntryKind.GOODWILL).aggregate(total=Sum("points"))["total"]
        if (given or 0) + points > cap:
            raise Conflict(
                _("At most %(cap)d goodwill points per ticket; %(given)d given already.")
                % {"cap": cap, "given": given or 0},
                code="goodwill_cap",
            )
        return _credit(
            account,
            kind=EntryKind.GOODWILL,
            points=points,
            key=f"goodwill:{key}" if key else f"goodwill:ticket:{ticket.pk}:{(given or 0) + points}",
            now=now,
            ticket=ticket,
            author=author,
            reason=(reason or _("Goodwill for ticket %(reference)s") % {"reference": ticket.reference})[:500],
        )


# --- The sweeps: pending points become available, old points expire ---------------------

SWEEP_BATCH_ACCOUNTS = 5000


def _sweep(due_sql: str, deadline: str, work, *, now: datetime, batch: int) -> int:
    """Walk the due entries in deadline order (a range of a partial index), a batch at a
    time, each batch in its own transaction: lock the batch's accounts (SKIP LOCKED: an
    account another sweep or a redemption holds is left for the next sweep, not waited
    for) and let `work(entry_ids)` act on the batch's entries of the locked accounts
    (by primary key). Returns what `work` counted. The walk's cursor, not a re-scan,
    finds the next batch: racing sweeps share the work and none stops early."""
    table = _entry_table()
    done = 0
    after: tuple = (datetime.min.replace(tzinfo=UTC), 0)
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {deadline}, id, account_id FROM {table} WHERE {due_sql} AND {deadline} <= %s"
                    f" AND ({deadline}, id) > (%s, %s) ORDER BY {deadline}, id LIMIT %s",
                    [now, *after, batch],
                )
                rows = cursor.fetchall()
            if not rows:
                return done
            after = rows[-1][:2]
            accounts = _locked_accounts(sorted({row[2] for row in rows}))
            entry_ids = [row[1] for row in rows if row[2] in accounts]
            if entry_ids:
                done += work(entry_ids)
        if len(rows) < batch:
            return done


def _locked_accounts(ids: list[int]) -> set[int]:
    """Lock these accounts in id order, passing over any another transaction holds (SKIP
    LOCKED); the ids of those locked. The ids go as one array parameter, bound on the
    server (`rows_together`): a sweep's batch of 5,000 through the ORM's IN list cost
    110-185 ms to build, send and plan, this about 40 ms (bench/README.md)."""
    chosen, params = _ids("customer_id", ids)
    table = connection.ops.quote_name(Account._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    (locked,) = rows_together(
        RawRows(f"SELECT customer_id FROM {table} WHERE {chosen} ORDER BY customer_id{lock}", params)
    )
    return {row[0] for row in locked}


def _entry_table() -> str:
    return connection.ops.quote_name(Entry._meta.db_table)


def _ids(column: str, ids: list[int]) -> tuple[str, list]:
    """`column` among `ids`: one array parameter on PostgreSQL (a short statement to
    parse whatever the batch), a list of placeholders elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join('%s' for _id in ids)})", list(ids)


def pending_release_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH_ACCOUNTS) -> int:
    """Pending points whose period ended become spendable; returns how many credits.
    Per batch: one UPDATE of the balances, one of the credits (re-checked: still pending)."""
    now = now or timezone.now()
    entries, accounts_table = _entry_table(), connection.ops.quote_name(Account._meta.db_table)

    def release(entry_ids: list[int]) -> int:
        chosen, params = _ids("id", entry_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {accounts_table} SET pending = pending - s.points, balance = balance + s.points"
                f" FROM (SELECT account_id, sum(remaining) AS points FROM {entries}"
                f"  WHERE {chosen} AND pending GROUP BY account_id) s"
                f" WHERE {accounts_table}.customer_id = s.account_id",
                params,
            )
            cursor.execute(f"UPDATE {entries} SET pending = %s WHERE {chosen} AND pending", [False, *params])
            return cursor.rowcount

    return _sweep("pending", "available_at", release, now=now, batch=batch)


def points_expiry_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH_ACCOUNTS) -> int:
    """Credits past their expiry lose what is left of them: an expire entry each, the
    balance lowered, `remaining` set to 0. Returns how many credits expired.

    Set-based: per batch, one INSERT … SELECT writes the expire entries, one UPDATE
    lowers the balances, one UPDATE clears the credits (each re-checks `remaining > 0`:
    a redemption between the walk and the lock may have spent it)."""
    now = now or timezone.now()
    entries, accounts_table = _entry_table(), connection.ops.quote_name(Account._meta.db_table)

    def expire(entry_ids: list[int]) -> int:
        chosen, params = _ids("id", entry_ids)
        condition = f"{chosen} AND remaining > 0"
        if connection.vendor == "postgresql":
            # One statement: the credits are read once, and the three writes act on them.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH due AS (SELECT id, account_id, remaining FROM {entries} WHERE {condition}),"
                    f" cleared AS (UPDATE {entries} e SET remaining = 0 FROM due WHERE e.id = due.id RETURNING 1),"
                    f" written AS (INSERT INTO {entries} (account_id, kind, points, key, reason, remaining, pending,"
                    f"  available_at, created_at)"
                    f"  SELECT account_id, %s, -remaining, 'expire:entry:' || id, '', 0, false, NULL, %s FROM due"
                    f"  RETURNING 1),"
                    f" balances AS (UPDATE {accounts_table} a SET balance = a.balance - s.points"
                    f"  FROM (SELECT account_id, sum(remaining) AS points FROM due GROUP BY account_id) s"
                    f"  WHERE a.customer_id = s.account_id RETURNING 1)"
                    f" SELECT count(*) FROM due",
                    [*params, EntryKind.EXPIRE, now],
                )
                return cursor.fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {entries} (account_id, kind, points, key, reason, remaining, pending,"
                f" available_at, created_at)"
                f" SELECT account_id, %s, -remaining, CAST(%s AS VARCHAR) || CAST(id AS VARCHAR), '', 0, %s,"
                f" NULL, %s FROM {entries} WHERE {condition}",
                [EntryKind.EXPIRE, "expire:entry:", False, now, *params],
            )
            cursor.execute(
                f"UPDATE {accounts_table} SET balance = balance - s.points"
                f" FROM (SELECT account_id, sum(remaining) AS points FROM {entries} WHERE {condition}"
                f"  GROUP BY account_id) s WHERE {accounts_table}.customer_id = s.account_id",
                params,
            )
            cursor.execute(f"UPDATE {entries} SET remaining = 0 WHERE {condition}", params)
            return cursor.rowcount

    return _sweep("remaining > 0 AND NOT pending", "expires_at", expire, now=now, batch=batch)


# --- The nightly tier evaluation ---------------------------------------------------------


@dataclass(frozen=True)
class TierChange:
    customer_id: int
    old_id: int | None
    new_id: int | None


def tiers_evaluate(
    *, now: datetime | None = None, customer_ids_of_orders: list[int] | None = None, upgrades_only: bool = False
) -> dict[str, int]:
    """Every account's tier against its spend (or orders) in the trailing window, in
    set-based SQL (no loop over accounts):

    - a member who qualifies for a higher tier goes up now;
    - one below their tier starts a grace period; after `downgrade_grace_days` still
      below, they go down to the tier they qualify for; qualifying again ends it;
    - a paid membership holds its tier until it ends.

    Only accounts with something to change reach the temporary table the updates read.
    An import raises the tiers of its orders' customers alone (`customer_ids_of_orders`,
    PostgreSQL, with `upgrades_only`) before it books their points.
    """
    now = now or timezone.now()
    program = program_rules()
    tiers = tiers_by_rank()
    if not tiers:
        return {"upgraded": 0, "downgraded": 0, "grace_started": 0}
    quote = connection.ops.quote_name
    account_table = quote(Account._meta.db_table)
    order_table = quote(Order._meta.db_table)
    by_rank_desc = sorted(tiers, key=lambda tier: -tier.rank)
    figure = "count(*)" if program.tier_basis == TierBasis.ORDERS else "sum(total)"
    # CAST: SQLite (make run) receives decimals as text, which would compare as text.
    target_id = (
        "CASE " + " ".join("WHEN value >= CAST(%s AS NUMERIC) THEN %s" for _t in by_rank_desc) + " ELSE NULL END"
    )
    target_rank = (
        "CASE " + " ".join("WHEN value >= CAST(%s AS NUMERIC) THEN %s" for _t in by_rank_desc) + " ELSE -1 END"
    )
    rank_of = "CASE tier_id " + " ".join("WHEN %s THEN %s" for _t in tiers) + " ELSE -1 END"
    statuses = ", ".join("%s" for _s in program.earning_statuses)
    params: list = []  # in the order of the placeholders: target_id, current_rank, target_rank
    for tier in by_rank_desc:
        params += [tier.threshold, tier.pk]
    for tier in tiers:
        params += [tier.pk, tier.rank]
    for tier in by_rank_desc:
        params += [tier.threshold, tier.rank]
    window_start = now - relativedelta(months=program.tier_window_months)
    params += [window_start, now, *program.earning_statuses]
    window = f"placed_at >= %s AND placed_at <= %s AND status IN ({statuses})"
    if customer_ids_of_orders is None:
        # Every account: the window's orders aggregated once, grouped by customer.
        source = (
            f"{account_table} acc LEFT JOIN ("
            f" SELECT customer_id, {figure} AS value FROM {order_table} WHERE {window} GROUP BY customer_id"
            ") q ON q.customer_id = acc.customer_id"
        )
        value = "coalesce(q.value, 0)"
    else:
        # A batch's customers (PostgreSQL): each one's orders of the window read
        # through the customer's index (aggregating the whole window to keep a few
        # would read millions of orders for a batch of thousands). OFFSET 0 keeps the
        # planner from copying the subquery into each CASE that reads the value.
        source = (
            f"{account_table} acc"
            f" WHERE acc.customer_id IN (SELECT customer_id FROM {order_table} WHERE id = ANY(%s)) OFFSET 0"
        )
        value = (
            f"coalesce((SELECT {figure} FROM {order_table} o WHERE o.customer_id = acc.customer_id AND {window}), 0)"
        )
        params.append(customer_ids_of_orders)
    grace_over = now - timedelta(days=program.downgrade_grace_days)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _tier_eval")
        cursor.execute(
            "CREATE TEMP TABLE _tier_eval AS"
            f" SELECT customer_id, current_id, target_id, current_rank, target_rank, below_since, held_until FROM ("
            f"  SELECT a.customer_id, a.tier_id AS current_id, {target_id} AS target_id,"
            f"   {rank_of} AS current_rank, {target_rank} AS target_rank,"
            "   a.below_tier_since AS below_since, a.tier_held_until AS held_until"
            f"  FROM (SELECT acc.customer_id, acc.tier_id, acc.below_tier_since, acc.tier_held_until,"
            f"    {value} AS value FROM {source}) a"
            " ) e WHERE target_rank <> current_rank OR below_since IS NOT NULL",
            params,
        )
        # The UPDATEs below join it on the customer: without an index and statistics a
        # million changes (a program's first night) would be a nested loop.
        cursor.execute("CREATE INDEX _tier_eval_customer ON _tier_eval (customer_id)")
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE _tier_eval")
        # What changes tier, read before it changes (for the emails).
        cursor.execute(
            "SELECT customer_id, current_id, target_id FROM _tier_eval WHERE target_rank > current_rank"
            " OR (target_rank < current_rank AND below_since <= %s"
            "     AND (held_until IS NULL OR held_until <= %s))",
            [grace_over, now],
        )
        changes = [TierChange(*row) for row in cursor.fetchall()]
        upgraded = sum(_rank(tiers, change.new_id) > _rank(tiers, change.old_id) for change in changes)
        downgraded = len(changes) - upgraded
        if upgrades_only:
            changes = [change for change in changes if _rank(tiers, change.new_id) > _rank(tiers, change.old_id)]
            cursor.execute(
                f"UPDATE {account_table} SET tier_id = e.target_id, tier_since = %s, below_tier_since = NULL"
                f" FROM _tier_eval e WHERE e.customer_id = {account_table}.customer_id"
                "  AND e.target_rank > e.current_rank",
                [now],
            )
            cursor.execute(
                f"UPDATE {account_table} SET below_tier_since = NULL WHERE customer_id IN ("
                " SELECT customer_id FROM _tier_eval WHERE below_since IS NOT NULL AND target_rank >= current_rank)"
            )
            cursor.execute("DROP TABLE _tier_eval")
            tiers_changed_notify(changes, now=now)
            return {"upgraded": len(changes), "downgraded": 0, "grace_started": 0}
        # Tier changes (up now; down once the grace is over and no membership holds it).
        cursor.execute(
            f"UPDATE {account_table} SET tier_id = e.target_id, tier_since = %s, below_tier_since = NULL"
            f" FROM _tier_eval e WHERE e.customer_id = {account_table}.customer_id AND (e.target_rank > e.current_rank"
            "  OR (e.target_rank < e.current_rank AND e.below_since <= %s"
            "   AND (e.held_until IS NULL OR e.held_until <= %s)))",
            [now, grace_over, now],
        )
        # Qualifying again, or held by a membership: no grace period running.
        cursor.execute(
            f"UPDATE {account_table} SET below_tier_since = NULL WHERE customer_id IN ("
            " SELECT customer_id FROM _tier_eval WHERE below_since IS NOT NULL AND (target_rank >= current_rank"
            "  OR held_until > %s))",
            [now],
        )
        # Newly below their tier: the grace period starts.
        cursor.execute(
            f"UPDATE {account_table} SET below_tier_since = %s WHERE customer_id IN ("
            " SELECT customer_id FROM _tier_eval WHERE target_rank < current_rank AND below_since IS NULL"
            "  AND (held_until IS NULL OR held_until <= %s))",
            [now, now],
        )
        grace_started = cursor.rowcount
        cursor.execute("DROP TABLE _tier_eval")
        tiers_changed_notify(changes, now=now)
    return {"upgraded": upgraded, "downgraded": downgraded, "grace_started": grace_started}


def _rank(tiers: list[Tier], tier_id: int | None) -> int:
    return next((tier.rank for tier in tiers if tier.pk == tier_id), -1)


def tiers_changed_notify(changes: list[TierChange], *, now: datetime, chunk: int = 1000) -> None:
    """The tier_changed emails, a chunk of customers read and written at a time. Entering
    the lowest tier (every member's first order, or the night a program starts) is no
    news: the first-purchase thanks says it, and a million "welcome to Bronze" emails
    would be noise."""
    tiers = tiers_by_rank()
    lowest = tiers[0].pk if tiers else None
    changes = [change for change in changes if not (change.old_id is None and change.new_id == lowest)]
    stamp = now.strftime("%Y%m%d%H%M%S")
    for start in range(0, len(changes), chunk):
        part = changes[start : start + chunk]
        customers = Customer.objects.in_bulk([change.customer_id for change in part])
        notices.loyalty_emails(
            (
                customers[change.customer_id],
                notices.TIER_CHANGED,
                f"{notices.TIER_CHANGED}:{change.customer_id}:{change.new_id}:{stamp}",
                {"old": change.old_id, "new": change.new_id},
                None,
            )
            for change in part
            if change.customer_id in customers
        )


def account_links_renew(*, customer_id: int) -> None:
    """The links to the customer's loyalty page stop working (a new salt: no MAC made
    before verifies); for an erasure of their personal data. The points and the ledger
    stay: they hold no personal data, and the liability figures are made of them."""
    Account.objects.filter(customer_id=customer_id).update(link_salt=new_link_salt())
