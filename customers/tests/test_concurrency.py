"""Writers racing on PostgreSQL, each thread on its own connection (committed data)."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from customers.metrics import rebuild
from customers.models import Customer, Order
from customers.services import order_create

from .test_aggregates_properties import snapshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def race(count: int, work) -> list:
    """Run work(i) in `count` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_the_same_order_posted_by_ten_clients_at_once_is_stored_once():
    def post(_):
        order, created = order_create(
            order_id="SAME", customer_id="C1", placed_at=datetime(2024, 5, 1, tzinfo=UTC), total=Decimal("9.99")
        )
        return order.pk, created

    results = race(10, post)
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Order.objects.count() == 1 and Customer.objects.count() == 1


def test_orders_of_one_customer_arriving_together_keep_the_aggregates_exact():
    def post(i):
        order_create(
            order_id=f"O{i}",
            customer_id="C1" if i % 2 else "C2",
            placed_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=37 * i),
            total=Decimal(i + 1),
        )

    race(12, post)
    assert Order.objects.count() == 12 and Customer.objects.count() == 2
    incremental = snapshot()
    rebuild()
    assert snapshot() == incremental
