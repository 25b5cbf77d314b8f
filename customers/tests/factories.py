"""factory_boy factories for the customers app.

OrderFactory writes through `orders_changing`, as every real write path does, so the
retention aggregates stay exact in tests that build orders with it.
"""

from datetime import UTC, datetime
from decimal import Decimal

import factory

from customers.metrics import orders_changing
from customers.models import Customer, Order, OrderLine, OrderStatus, Product


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")
    locale = "en"
    time_zone = "UTC"
    first_seen = datetime(2020, 1, 1, tzinfo=UTC)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("word")
    price = Decimal("19.90")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    external_id = factory.Sequence(lambda n: f"O{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    placed_at = datetime(2024, 1, 15, 12, tzinfo=UTC)
    total = Decimal("50.00")
    currency = "EUR"
    status = OrderStatus.PAID

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with orders_changing([kwargs["customer"].pk]):
            return super()._create(model_class, *args, **kwargs)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = Decimal("19.90")
