"""The filters a support person uses on the API's lists."""

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import AcquisitionChannel, Customer, Order, OrderStatus, Product


class CustomerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email", label=_("Email (any case)"))
    customer_id = django_filters.CharFilter(field_name="external_id", label=_("Customer id"))
    name = django_filters.CharFilter(lookup_expr="icontains", label=_("Name contains"))
    acquisition_channel = django_filters.MultipleChoiceFilter(choices=AcquisitionChannel.choices)
    joined = django_filters.DateFromToRangeFilter(
        field_name="first_seen", label=_("First seen (joined_after / joined_before)")
    )

    class Meta:
        model = Customer
        fields = [
            "email",
            "customer_id",
            "name",
            "acquisition_channel",
            "locale",
            "marketing_consent",
            "survey_consent",
        ]

    def filter_email(self, queryset, name, value):
        return queryset.with_email(value)


class ProductFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Product
        fields = ["sku", "name", "category", "active"]


class OrderFilter(django_filters.FilterSet):
    order_id = django_filters.CharFilter(field_name="external_id", label=_("Order id"))
    customer_id = django_filters.CharFilter(field_name="customer__external_id", label=_("Customer id"))
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    placed = django_filters.DateFromToRangeFilter(
        field_name="placed_at", label=_("Placed (placed_after / placed_before)")
    )
    total_min = django_filters.NumberFilter(field_name="total", lookup_expr="gte", label=_("Total at least"))
    total_max = django_filters.NumberFilter(field_name="total", lookup_expr="lte", label=_("Total at most"))

    class Meta:
        model = Order
        fields = ["order_id", "customer", "customer_id", "status", "currency", "discount_code"]
