"""The nightly churn risk and predicted CLV of every customer, in one INSERT … SELECT … ON
CONFLICT DO UPDATE (PostgreSQL, and SQLite for the embedded default).

The formulas (docs/architecture.md, "Churn risk and CLV", says the same):

Churn risk, 0–100, the sum of four parts:
- rhythm, up to 50: the customer's days since their last counted order against their
  usual gap (the mean days between their counted orders; the shop's median of those
  gaps for customers with one order; never under MIN_GAP_DAYS). Overdue = days since /
  usual gap; the part is 0 up to overdue 1 and grows evenly to 50 at overdue 3.
  Customers without a counted order get 0 here: they have no rhythm to break.
- complaints, up to 30: 15 for an unresolved complaint, 15 for a complaint whose
  resolution deadline was missed in the last BREACH_DAYS days.
- surveys, up to 15: the worst of their last NPS, CSAT and CLI answers: 15 for an NPS
  detractor (0–6), a CSAT of 1–2 or a CLI under 3; 5 for an NPS passive (7–8), a CSAT
  of 3 or a CLI under 4.
- points, 5: points that expire within EXPIRING_DAYS days (value they are leaving
  behind).

Predicted CLV (the articles' average order value × purchase frequency × lifespan):
  the customer's average order value
  × their orders per year (orders × 365 / their tenure in days, tenure at least a year)
  × the shop's expected customer lifespan in years: 1 / the churn rate of the last 365
    days (METRICS.md's churn over one year, window 365), kept between 1 and 10 years;
    1 year when that rate is unknown.

Value at risk = churn risk / 100 × predicted CLV: the admin's work queue sorts by it.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from customers.metrics import retention_figures
from customers.metrics.period import PeriodError, metrics_zone, period_validate
from customers.models import COUNTED_EXCLUDED_STATUSES, Customer
from feedback.models import ACTIVE_STATUSES, TicketKind
from feedback.surveys.models import SurveyKind

MIN_GAP_DAYS = 7
BREACH_DAYS = 90
EXPIRING_DAYS = 30
LIFESPAN_YEARS_MIN, LIFESPAN_YEARS_MAX, LIFESPAN_YEARS_UNKNOWN = 1.0, 10.0, 1.0


def _days(later: str, earlier: str) -> str:
    """SQL for the days (a float) from `earlier` to `later`, two timestamps."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


def _clamp01(expression: str) -> str:
    return f"(CASE WHEN {expression} < 0 THEN 0.0 WHEN {expression} > 1 THEN 1.0 ELSE {expression} END)"


def _greatest(*expressions: str) -> str:
    """GREATEST on PostgreSQL, the many-argument max() on SQLite."""
    function = "GREATEST" if connection.vendor == "postgresql" else "max"
    return f"{function}({', '.join(expressions)})"


def _timestamp(column_or_param: str) -> str:
    return f"CAST({column_or_param} AS timestamptz)" if connection.vendor == "postgresql" else column_or_param


SCORES_SQL = """
WITH counted AS (
    SELECT customer_id, COUNT(*) AS orders, SUM(total) AS revenue,
           MIN(placed_at) AS first_at, MAX(placed_at) AS last_at
    FROM customers_order
    WHERE status NOT IN ({excluded})
    GROUP BY customer_id
),
bought AS (
    SELECT o.customer_id, COUNT(DISTINCT l.product_id) AS products
    FROM customers_orderline l JOIN customers_order o ON o.id = l.order_id
    WHERE o.status NOT IN ({excluded})
    GROUP BY o.customer_id
),
complaints AS (
    SELECT customer_id,
           MAX(CASE WHEN status IN ({active}) THEN 1 ELSE 0 END) AS unresolved,
           MAX(CASE WHEN resolution_breached AND resolve_by >= {breach_since} THEN 1 ELSE 0 END) AS breached
    FROM feedback_ticket
    WHERE kind = %(complaint)s AND (status IN ({active}) OR resolve_by >= {breach_since})
    GROUP BY customer_id
),
promises AS (
    SELECT customer_id, promise_kept FROM (
        SELECT customer_id, promise_kept,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY first_resolved_at DESC, id DESC) AS n
        FROM feedback_ticket
        WHERE kind = %(complaint)s AND promise_kept IS NOT NULL
    ) ranked
    WHERE n = 1
),
last_answers AS (
    SELECT customer_id, kind, score FROM (
        SELECT r.customer_id, s.kind, r.score,
               ROW_NUMBER() OVER (PARTITION BY r.customer_id, s.kind ORDER BY r.submitted_at DESC, r.id DESC) AS n
        FROM feedback_surveyresponse r JOIN feedback_survey s ON s.id = r.survey_id
        WHERE r.score IS NOT NULL AND s.kind IN (%(nps)s, %(csat)s, %(cli)s)
    ) ranked
    WHERE n = 1
),
answers AS (
    SELECT customer_id,
           MAX(CASE WHEN kind = %(nps)s THEN score END) AS nps,
           MAX(CASE WHEN kind = %(csat)s THEN score END) AS csat,
           MAX(CASE WHEN kind = %(cli)s THEN score END) AS cli
    FROM last_answers GROUP BY customer_id
),
expiring AS (
    SELECT account_id AS customer_id, SUM(remaining) AS points
    FROM loyalty_entry
    WHERE remaining > 0 AND expires_at > {now} AND expires_at <= {expiring_until}
    GROUP BY account_id
),
features AS (
    SELECT c.id AS customer_id,
           COALESCE(o.orders, 0) AS orders,
           COALESCE(o.revenue, 0) AS revenue,
           o.first_at, o.last_at,
           CASE WHEN o.orders > 1 THEN {gap_days} / (o.orders - 1) END AS usual_gap,
           {since_last} AS since_last,
           {tenure} AS tenure,
           COALESCE(b.products, 0) AS products,
           COALESCE(k.unresolved, 0) AS unresolved, COALESCE(k.breached, 0) AS breached,
           a.nps, a.csat, a.cli,
           p.promise_kept,
           COALESCE(e.points, 0) AS expiring
    FROM customers_customer c
    LEFT JOIN counted o ON o.customer_id = c.id
    LEFT JOIN bought b ON b.customer_id = c.id
    LEFT JOIN complaints k ON k.customer_id = c.id
    LEFT JOIN answers a ON a.customer_id = c.id
    LEFT JOIN expiring e ON e.customer_id = c.id
    LEFT JOIN promises p ON p.customer_id = c.id
),
parts AS (
    SELECT f.*,
           CASE WHEN f.orders = 0 THEN 0
                ELSE CAST(ROUND(50 * {overdue}) AS INTEGER) END AS risk_rhythm,
           15 * f.unresolved + 15 * f.breached AS risk_complaints,
           {survey_part} AS risk_surveys,
           CASE WHEN f.expiring > 0 THEN 5 ELSE 0 END AS risk_points,
           CASE WHEN f.orders = 0 THEN 0
                ELSE (f.revenue / f.orders) * (f.orders * 365.0 / {tenure_floor}) * %(lifespan)s END AS clv
    FROM features f
),
scored AS (
    SELECT p.*, p.risk_rhythm + p.risk_complaints + p.risk_surveys + p.risk_points AS churn_risk FROM parts p
)
INSERT INTO insights_customerscore (
    customer_id, orders, revenue, first_order_at, last_order_at, usual_gap_days, products, predicted_clv,
    churn_risk, risk_rhythm, risk_complaints, risk_surveys, risk_points, nps_group, last_promise_kept,
    value_at_risk, computed_at
)
SELECT customer_id, orders, revenue, first_at, last_at, usual_gap, products, ROUND(CAST(clv AS NUMERIC), 2),
       churn_risk, risk_rhythm, risk_complaints, risk_surveys, risk_points,
       CASE WHEN nps IS NULL THEN '' WHEN nps >= 9 THEN 'promoter' WHEN nps >= 7 THEN 'passive'
            ELSE 'detractor' END,
       promise_kept,
       ROUND(CAST(clv * churn_risk / 100.0 AS NUMERIC), 2), {now}
FROM scored WHERE true
ON CONFLICT (customer_id) DO UPDATE SET
    orders = excluded.orders, revenue = excluded.revenue, first_order_at = excluded.first_order_at,
    last_order_at = excluded.last_order_at, usual_gap_days = excluded.usual_gap_days,
    products = excluded.products, predicted_clv = excluded.predicted_clv, churn_risk = excluded.churn_risk,
    risk_rhythm = excluded.risk_rhythm, risk_complaints = excluded.risk_complaints,
    risk_surveys = excluded.risk_surveys, risk_points = excluded.risk_points, nps_group = excluded.nps_group,
    last_promise_kept = excluded.last_promise_kept,
    value_at_risk = excluded.value_at_risk, computed_at = excluded.computed_at
"""

# The median of the repeat customers' usual gaps: the rhythm expected of a customer with
# one order.
SHOP_GAP_SQL = """
SELECT {median} FROM (
    SELECT {gap_days} / (COUNT(*) - 1) AS gap
    FROM customers_order o
    WHERE status NOT IN ({excluded})
    GROUP BY customer_id HAVING COUNT(*) > 1
) gaps
"""


def _survey_part() -> str:
    def points(kind: str, bad: str, middling: str) -> str:
        return f"(CASE WHEN f.{kind} IS NULL THEN 0 WHEN {bad} THEN 15 WHEN {middling} THEN 5 ELSE 0 END)"

    return _greatest(
        points("nps", "f.nps <= 6", "f.nps <= 8"),
        points("csat", "f.csat <= 2", "f.csat <= 3"),
        points("cli", "f.cli < 3", "f.cli < 4"),
    )


@dataclass(frozen=True)
class ScoringRun:
    customers: int
    lifespan_years: float
    shop_gap_days: float
    computed_at: datetime


def lifespan_years(today: date) -> float:
    """The expected customer lifespan: 1 / the churn rate of the year before `today`."""
    try:
        period = period_validate(start=today - timedelta(days=365), end=today - timedelta(days=1), window_days=365)
    except PeriodError:
        return LIFESPAN_YEARS_UNKNOWN
    churn = retention_figures(period).churn_rate
    if churn is None or churn <= 0:
        return LIFESPAN_YEARS_MAX if churn is not None else LIFESPAN_YEARS_UNKNOWN
    return min(LIFESPAN_YEARS_MAX, max(LIFESPAN_YEARS_MIN, float(100 / churn)))


def _in_list(values) -> str:
    return ", ".join(f"'{value}'" for value in values)  # our own constants, never input


def scores_compute(*, now: datetime | None = None) -> ScoringRun:
    """Recompute every customer's score in one statement (plus two small queries)."""
    now = now or timezone.now()
    excluded = _in_list(COUNTED_EXCLUDED_STATUSES)
    prepared_now = connection.ops.adapt_datetimefield_value(now)
    lifespan = lifespan_years(now.astimezone(metrics_zone()).date())
    median = "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY gap)" if connection.vendor == "postgresql" else "MEDIAN(gap)"
    with connection.cursor() as cursor:
        cursor.execute(
            SHOP_GAP_SQL.format(median=median, excluded=excluded, gap_days=_days("MAX(placed_at)", "MIN(placed_at)"))
        )
        shop_gap = max(float(cursor.fetchone()[0] or 0), MIN_GAP_DAYS)

    now_sql = _timestamp("%(now)s")
    usual = f"(CASE WHEN f.usual_gap IS NULL OR f.usual_gap < {MIN_GAP_DAYS} THEN "
    usual += f"(CASE WHEN f.usual_gap IS NULL THEN %(shop_gap)s ELSE {MIN_GAP_DAYS} END) ELSE f.usual_gap END)"
    sql = SCORES_SQL.format(
        excluded=excluded,
        active=_in_list(ACTIVE_STATUSES),
        now=now_sql,
        breach_since=_timestamp("%(breach_since)s"),
        expiring_until=_timestamp("%(expiring_until)s"),
        gap_days=_days("o.last_at", "o.first_at"),
        since_last=_days(now_sql, "o.last_at"),
        tenure=_days(now_sql, "o.first_at"),
        overdue=_clamp01(f"((f.since_last / {usual}) - 1) / 2.0"),
        survey_part=_survey_part(),
        tenure_floor=_greatest("f.tenure", "365.0"),
    )
    params = {
        "now": prepared_now,
        "breach_since": connection.ops.adapt_datetimefield_value(now - timedelta(days=BREACH_DAYS)),
        "expiring_until": connection.ops.adapt_datetimefield_value(now + timedelta(days=EXPIRING_DAYS)),
        "complaint": TicketKind.COMPLAINT.value,
        "nps": SurveyKind.NPS.value,
        "csat": SurveyKind.CSAT.value,
        "cli": SurveyKind.CLI.value,
        "lifespan": lifespan,
        "shop_gap": shop_gap,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        customers = cursor.rowcount
    if customers < 0:  # SQLite does not count the rows of an INSERT with a WITH clause
        customers = Customer.objects.count()
    return ScoringRun(customers=customers, lifespan_years=lifespan, shop_gap_days=shop_gap, computed_at=now)


def clv_of(revenue: Decimal, orders: int, tenure_days: float, lifespan: float) -> Decimal:
    """The same model in Python, for one customer (the tests' reference)."""
    if not orders:
        return Decimal(0)
    per_year = orders * 365.0 / max(tenure_days, 365.0)
    return (revenue / orders * Decimal(per_year) * Decimal(lifespan)).quantize(Decimal("0.01"))


# Pairs of distinct products on the same counted order; the top PAIRS_KEPT are kept.
PAIRS_KEPT = 100
PAIRS_SQL = """
INSERT INTO insights_productpair (product_a_id, product_b_id, orders)
SELECT a.product_id, b.product_id, COUNT(DISTINCT a.order_id) AS orders
FROM customers_orderline a
JOIN customers_orderline b ON b.order_id = a.order_id AND b.product_id > a.product_id
JOIN customers_order o ON o.id = a.order_id
WHERE o.status NOT IN ({excluded})
GROUP BY a.product_id, b.product_id
ORDER BY orders DESC, a.product_id, b.product_id
LIMIT {kept}
"""


def product_pairs_compute() -> int:
    """The products most often bought together, anew (one statement, in a transaction:
    readers see the old pairs until it commits)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM insights_productpair")
        cursor.execute(PAIRS_SQL.format(excluded=_in_list(COUNTED_EXCLUDED_STATUSES), kept=PAIRS_KEPT))
        return cursor.rowcount
