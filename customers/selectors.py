"""Reads about customers that the admin, the API and later the dashboard share."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Sum

from .metrics.figures import money
from .models import Customer, Order


@dataclass(frozen=True)
class CustomerLifetime:
    """A customer's counted orders over all time (cancelled and refunded left out)."""

    orders: int
    revenue: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None

    @property
    def average_order_value(self) -> Decimal | None:
        return money(self.revenue / self.orders) if self.orders else None


def customer_lifetime(customer: Customer) -> CustomerLifetime:
    """One aggregate query on the (customer, placed_at) index."""
    figures = (
        Order.objects.counted()
        .filter(customer=customer)
        .aggregate(orders=Count("id"), revenue=Sum("total"), first=Min("placed_at"), last=Max("placed_at"))
    )
    return CustomerLifetime(
        orders=figures["orders"],
        revenue=money(figures["revenue"]),
        first_order_at=figures["first"],
        last_order_at=figures["last"],
    )
