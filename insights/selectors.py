"""Reads over the nightly customer scores: service experience against retention, and
customer value (CLV, upsell, products bought together). Each is a handful of GROUP BY
queries over one row per customer.

Service against retention (docs/architecture.md says the same): among customers with
at least one counted order, as of the last nightly scores,
- churned: no counted order in the last RETENTION_WINDOW_DAYS (no longer active);
- repeat purchase rate: two or more counted orders;
grouped by the promise of their last resolved complaint (kept, broken, none), their
last NPS answer (promoter, passive, detractor, none), their tier and their acquisition
channel, each figure with the number of customers behind it."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Avg, Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import AcquisitionChannel, Product
from loyalty.services import tiers_by_rank

from .models import CustomerScore, NpsGroup, ProductPair


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class GroupFigures:
    label: str
    customers: int
    churned: int
    repeaters: int

    @property
    def churn_rate(self) -> Decimal | None:
        return _rate(self.churned, self.customers)

    @property
    def repeat_purchase_rate(self) -> Decimal | None:
        return _rate(self.repeaters, self.customers)


def _grouped(field: str, labels: dict, cutoff: datetime) -> list[GroupFigures]:
    rows = (
        CustomerScore.objects.filter(orders__gte=1)
        .values(field)
        .annotate(
            customers=Count("pk"),
            churned=Count("pk", filter=Q(last_order_at__lt=cutoff)),
            repeaters=Count("pk", filter=Q(orders__gte=2)),
        )
        .order_by()
    )
    found = {row[field]: row for row in rows}
    return [
        GroupFigures(str(label), found[key]["customers"], found[key]["churned"], found[key]["repeaters"])
        for key, label in labels.items()
        if key in found
    ]


def tier_names(language: str) -> dict[int | None, str]:
    """Each tier's name in `language`, by id; None (no tier) too."""
    names: dict[int | None, str] = {tier.pk: tier.name_in(language) for tier in tiers_by_rank()}
    names[None] = str(_("No tier"))
    return names


def service_against_retention(*, now: datetime | None = None, language: str = "en") -> dict[str, list[GroupFigures]]:
    """Four GROUP BY queries."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_WINDOW_DAYS)
    no_answer = _("No NPS answer")
    return {
        "promise": _grouped(
            "last_promise_kept",
            {True: _("Complaint resolved within its promise"), False: _("Promise broken"), None: _("No complaint")},
            cutoff,
        ),
        "nps": _grouped("nps_group", {**dict(NpsGroup.choices), "": no_answer}, cutoff),
        "tier": _grouped("customer__loyalty__tier", tier_names(language), cutoff),
        "channel": _grouped("customer__acquisition_channel", dict(AcquisitionChannel.choices), cutoff),
    }


@dataclass(frozen=True)
class CustomerValue:
    customers: int  # with at least one counted order
    historic_value: Decimal | None  # mean lifetime revenue
    predicted_clv: Decimal | None  # mean predicted CLV
    one_product: int
    several_products: int

    @property
    def upsell_rate(self) -> Decimal | None:
        """Customers who bought more than one distinct product per customer who bought
        exactly one (METRICS.md), as a percentage."""
        return _rate(self.several_products, self.one_product)


def customer_value() -> CustomerValue:
    """One aggregate query over the scores."""
    figures = CustomerScore.objects.filter(orders__gte=1).aggregate(
        customers=Count("pk"),
        historic=Avg("revenue"),
        predicted=Avg("predicted_clv"),
        one=Count("pk", filter=Q(products=1)),
        several=Count("pk", filter=Q(products__gt=1)),
    )

    def money(value) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    return CustomerValue(
        customers=figures["customers"],
        historic_value=money(figures["historic"]),
        predicted_clv=money(figures["predicted"]),
        one_product=figures["one"],
        several_products=figures["several"],
    )


def top_product_pairs(limit: int = 10) -> list[tuple[Product, Product, int]]:
    """The products most often bought in the same order (as of the nightly run)."""
    pairs = ProductPair.objects.select_related("product_a", "product_b").order_by("-orders", "pk")[:limit]
    return [(pair.product_a, pair.product_b, pair.orders) for pair in pairs]
