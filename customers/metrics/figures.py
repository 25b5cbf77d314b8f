"""The results of the retention metrics, as the command and the API show them."""

from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .period import Period

TWO_PLACES = Decimal("0.01")


def percentage(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage with 2 decimals; None when whole is 0 (METRICS.md:
    a rate whose denominator is 0 is null, never 0 and never an error)."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def money(value: Decimal | int | None) -> Decimal:
    return Decimal(value or 0).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RetentionFigures:
    start: date
    end: date
    window_days: int
    customers_at_start: int
    customers_at_end: int
    new_customers: int
    retention_rate: Decimal | None
    churn_rate: Decimal | None
    returning_customer_rate: Decimal | None
    repeat_purchase_rate: Decimal | None
    orders: int
    revenue: Decimal
    average_order_value: Decimal | None

    @classmethod
    def from_counts(
        cls,
        period: Period,
        *,
        at_start: int,
        at_end: int,
        new: int,
        returning: int,
        ever_ordered: int,
        repeaters: int,
        orders: int,
        revenue: Decimal,
    ) -> "RetentionFigures":
        """Turn the raw counts (however they were computed) into the published figures."""
        retention = percentage(at_end - new, at_start)
        return cls(
            start=period.start,
            end=period.end,
            window_days=period.window_days,
            customers_at_start=at_start,
            customers_at_end=at_end,
            new_customers=new,
            retention_rate=retention,
            churn_rate=None if retention is None else Decimal(100) - retention,
            returning_customer_rate=percentage(returning, at_start),
            repeat_purchase_rate=percentage(repeaters, ever_ordered),
            orders=orders,
            revenue=money(revenue),
            average_order_value=None if orders == 0 else money(Decimal(revenue) / orders),
        )

    def as_json(self) -> dict:
        """Plain JSON types: dates as YYYY-MM-DD, money and rates as numbers, null rates."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Decimal):
                data[key] = float(value)
            elif isinstance(value, date):
                data[key] = value.isoformat()
        return data


@dataclass(frozen=True)
class Cohort:
    month: date  # first day of the cohort's month
    customers: int
    retention: list[Decimal]  # offset 0, 1, 2, … months; offset 0 is 100

    def as_json(self) -> dict:
        return {
            "cohort": self.month.strftime("%Y-%m"),
            "customers": self.customers,
            "retention": [float(value) for value in self.retention],
        }


def cohort_from_counts(month: date, active_by_offset: list[int]) -> Cohort:
    """active_by_offset[k]: the cohort's customers with a counted order in month + k."""
    size = active_by_offset[0]
    return Cohort(
        month=month,
        customers=size,
        retention=[percentage(active, size) for active in active_by_offset],
    )
