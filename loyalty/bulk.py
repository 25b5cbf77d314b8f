"""Points for many orders at once (an import), in set-based SQL on PostgreSQL.

The same rules as the order-by-order path in services.py, with one difference said
plainly: every order of the batch earns at the tier its customer has once the whole
batch counts (the tiers are raised first, in one statement), where orders arriving one
by one earn at the tier each of them reaches. Everything else is the same: points date
from the order (pending until its returns window ends, expiring `expiry_months` after
it), one earn entry per order (its key), the rate stored on the entry for refunds.

What stays order by order, because it is rare or personal: refunds of orders that had
earned, paid memberships, and the first paid order of a customer (thanks email and
referral), each found by a set-based query first.
"""

import logging
import secrets
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from customers.models import Order, OrderLine

from .models import Entry, EntryKind, Rounding, new_link_salt
from .services import (
    CODE_ALPHABET,
    REFERRAL_CODE_LENGTH,
    THANKS_RECENT_DAYS,
    program_rules,
    tiers_by_rank,
    tiers_evaluate,
)

logger = logging.getLogger(__name__)

ROUNDING_SQL = {Rounding.DOWN: "floor", Rounding.UP: "ceil", Rounding.HALF_UP: "round"}


def _lock_accounts(cursor, order_ids: list[int]) -> None:
    """Lock the accounts of the orders' customers in one order (no deadlock with another
    batch), opening those that are missing first: the lock's answer says which exist,
    so the accounts are looked up once. Codes are drawn in Python (the database has no
    CSPRNG over our alphabet) and written in one INSERT … unnest."""
    cursor.execute("SELECT DISTINCT customer_id FROM customers_order WHERE id = ANY(%s)", [order_ids])
    wanted = sorted(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT customer_id FROM loyalty_account WHERE customer_id = ANY(%s) ORDER BY customer_id FOR UPDATE",
        [wanted],
    )
    missing = sorted(set(wanted) - {row[0] for row in cursor.fetchall()})
    while missing:
        codes = ["".join(secrets.choice(CODE_ALPHABET) for _i in range(REFERRAL_CODE_LENGTH)) for _c in missing]
        cursor.execute(
            "INSERT INTO loyalty_account (customer_id, balance, pending, referral_code, link_salt, created_at)"
            " SELECT customer_id, 0, 0, code, salt, now() FROM unnest(%s::bigint[], %s::text[], %s::text[])"
            " AS t(customer_id, code, salt) ON CONFLICT DO NOTHING",
            [missing, codes, [new_link_salt() for _c in missing]],
        )
        # Lock them too; a clash of random codes (or an account another transaction
        # opened meanwhile, now locked as well) leaves some to look at again.
        cursor.execute(
            "SELECT customer_id FROM loyalty_account WHERE customer_id = ANY(%s) ORDER BY customer_id FOR UPDATE",
            [missing],
        )
        missing = sorted(set(missing) - {row[0] for row in cursor.fetchall()})


def orders_points_bulk(order_ids: list[int], *, now: datetime | None = None) -> None:
    """Earn for the batch's orders in a few statements; hand the rare cases to the
    order-by-order path. Called in the import's transaction."""
    from .services import _after_first_paid_order, _clawback, _earn, _locked, _refunded_share

    now = now or timezone.now()
    program = program_rules()
    if not order_ids:
        return
    with connection.cursor() as cursor:
        # Reward codes the orders carry are used now.
        cursor.execute(
            "UPDATE loyalty_redemption r SET status = 'used', used_on_id = o.id FROM customers_order o"
            " WHERE o.id = ANY(%s) AND o.discount_code <> '' AND r.status = 'issued' AND o.total >= %s"
            "  AND r.code = upper(regexp_replace(o.discount_code, '[^A-Za-z0-9]', '', 'g'))",
            [order_ids, program.min_order_to_use_points],
        )
        # Orders that earned before and are now (partly) refunded: order by order.
        cursor.execute(
            "SELECT o.id FROM customers_order o JOIN loyalty_entry e ON e.order_id = o.id AND e.kind = 'earn'"
            " WHERE o.id = ANY(%s) AND (o.status IN ('cancelled', 'refunded') OR o.refunded_total > 0)"
            " ORDER BY o.customer_id, o.id",
            [order_ids],
        )
        refunded = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT o.id FROM customers_order o WHERE o.id = ANY(%s) AND o.status = ANY(%s)"
            " AND o.refunded_total = 0"
            " AND NOT EXISTS (SELECT 1 FROM loyalty_entry e WHERE e.key = 'earn:order:' || o.id)",
            [order_ids, list(program.earning_statuses)],
        )
        earning = [row[0] for row in cursor.fetchall()]
        if earning:
            _lock_accounts(cursor, earning)
    memberships = _membership_orders(earning)
    if earning and tiers_by_rank():
        tiers_evaluate(now=now, customer_ids_of_orders=earning, upgrades_only=True)
    plain = [order_id for order_id in earning if order_id not in memberships]
    if plain:
        _earn_plain(plain, now=now)
    for order in Order.objects.filter(pk__in=memberships).order_by("customer_id", "id"):
        _earn(order, program=program, now=now)
    for order in Order.objects.filter(pk__in=refunded).order_by("customer_id", "id"):
        entry = Entry.objects.get(order=order, kind=EntryKind.EARN)
        _clawback(order, entry, share=_refunded_share(order), now=now)
    for order_id, points in _first_orders(plain, now=now, program=program):
        order = Order.objects.get(pk=order_id)
        _after_first_paid_order(_locked(order.customer_id), order=order, earned=points, program=program, now=now)


def _membership_orders(order_ids: list[int]) -> set[int]:
    products = [tier.membership_product_id for tier in tiers_by_rank() if tier.membership_product_id]
    if not products or not order_ids:
        return set()
    return set(
        OrderLine.objects.filter(order_id__in=order_ids, product_id__in=products).values_list("order_id", flat=True)
    )


def _earn_plain(order_ids: list[int], *, now: datetime) -> None:
    """One INSERT … SELECT for the earn entries, feeding one UPDATE of the balances."""
    program = program_rules()
    rounding = ROUNDING_SQL[program.rounding]
    months = f"{int(program.expiry_months)} months"
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH earned AS ("
            " SELECT o.customer_id AS account_id, o.id AS order_id, o.total, o.external_id,"
            f"  {rounding}(o.total * %(rate)s * coalesce(t.multiplier, 1))::bigint AS points,"
            "  least(o.placed_at, %(now)s) AS earned_at"
            " FROM customers_order o JOIN loyalty_account a ON a.customer_id = o.customer_id"
            " LEFT JOIN loyalty_tier t ON t.id = a.tier_id"
            " WHERE o.id = ANY(%(ids)s) AND o.currency = %(currency)s"
            "), inserted AS ("
            " INSERT INTO loyalty_entry (account_id, kind, points, key, order_id, basis, reason, remaining, pending,"
            "  available_at, expires_at, created_at)"
            " SELECT account_id, 'earn', points, 'earn:order:' || order_id, order_id, total, 'Order ' || external_id,"
            "  points, earned_at + %(pending)s > %(now)s, earned_at + %(pending)s,"
            "  CASE WHEN %(expires)s THEN earned_at + %(months)s::interval END, earned_at"
            " FROM earned WHERE points > 0 ORDER BY order_id"
            " ON CONFLICT (key) DO NOTHING RETURNING account_id, points, pending"
            ")"
            " UPDATE loyalty_account a SET balance = a.balance + s.available, pending = a.pending + s.waiting"
            " FROM (SELECT account_id, coalesce(sum(points) FILTER (WHERE NOT pending), 0) AS available,"
            "  coalesce(sum(points) FILTER (WHERE pending), 0) AS waiting FROM inserted GROUP BY account_id) s"
            " WHERE a.customer_id = s.account_id",
            {
                "rate": program.points_per_unit,
                "now": now,
                "ids": order_ids,
                "currency": program.currency,
                "pending": timedelta(days=program.pending_days),
                "expires": bool(program.expiry_months),
                "months": months,
            },
        )


def _first_orders(order_ids: list[int], *, now: datetime, program) -> list[tuple[int, int]]:
    """(order, points earned) of the batch's orders that are their customer's first
    earning order and matter for it: recent (the thanks) or carrying a code (a referral)."""
    if not order_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id, coalesce(e.points, 0) FROM customers_order o"
            " LEFT JOIN loyalty_entry e ON e.key = 'earn:order:' || o.id"
            " WHERE o.id = ANY(%s) AND (o.placed_at >= %s OR o.discount_code <> '')"
            " AND NOT EXISTS (SELECT 1 FROM customers_order p WHERE p.customer_id = o.customer_id"
            "  AND p.status = ANY(%s) AND (p.placed_at < o.placed_at OR (p.placed_at = o.placed_at AND p.id < o.id)))"
            " ORDER BY o.customer_id, o.id",
            [order_ids, now - timedelta(days=THANKS_RECENT_DAYS), list(program.earning_statuses)],
        )
        return cursor.fetchall()
