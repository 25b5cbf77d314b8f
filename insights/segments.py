"""Segments: saved, named filters over customers. The rules are a form (the admin shows
it, the JSON stored is its cleaned data), and one function turns them into a queryset,
so counts, the customer list, exports and campaigns all agree on who is in a segment.

Spend, orders, last order, products count, churn risk and NPS group read the nightly
customer scores (insights.scoring); products bought, discount codes, tier, open
complaints, channel and language read the live tables."""

from datetime import datetime, timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import COUNTED_EXCLUDED_STATUSES, AcquisitionChannel, Customer, Order, OrderLine, Product
from feedback.models import ACTIVE_STATUSES, Ticket, TicketKind
from loyalty.models import Tier

from .models import NpsGroup

YES_NO = [("", _("Either")), ("yes", _("Yes")), ("no", _("No"))]


class SegmentRules(forms.Form):
    """Every rule is optional; a customer is in the segment when they meet all given."""

    min_spend = forms.DecimalField(label=_("Lifetime revenue at least"), required=False, min_value=0, decimal_places=2)
    max_spend = forms.DecimalField(label=_("Lifetime revenue at most"), required=False, min_value=0, decimal_places=2)
    min_orders = forms.IntegerField(label=_("Orders at least"), required=False, min_value=0)
    max_orders = forms.IntegerField(label=_("Orders at most"), required=False, min_value=0)
    no_order_for_days = forms.IntegerField(
        label=_("No order in the last (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Customers who ordered before, but not in this many days."),
    )
    ordered_within_days = forms.IntegerField(
        label=_("Ordered in the last (days)"), required=False, min_value=1, max_value=3650
    )
    products = forms.ModelMultipleChoiceField(
        label=_("Bought any of these products"), queryset=Product.objects.order_by("name"), required=False
    )
    used_discount_code = forms.ChoiceField(label=_("Used a discount code"), choices=YES_NO, required=False)
    tiers = forms.ModelMultipleChoiceField(
        label=_("Loyalty tier"), queryset=Tier.objects.order_by("rank"), required=False
    )
    nps_groups = forms.MultipleChoiceField(label=_("NPS group (last answer)"), choices=NpsGroup.choices, required=False)
    channels = forms.MultipleChoiceField(
        label=_("Acquisition channel"), choices=AcquisitionChannel.choices, required=False
    )
    locales = forms.MultipleChoiceField(label=_("Language"), choices=settings.LANGUAGES, required=False)
    open_complaint = forms.ChoiceField(label=_("Has an open complaint"), choices=YES_NO, required=False)
    min_churn_risk = forms.IntegerField(label=_("Churn risk at least"), required=False, min_value=0, max_value=100)

    def clean(self):
        cleaned = super().clean()
        for low, high in (("min_spend", "max_spend"), ("min_orders", "max_orders")):
            if cleaned.get(low) is not None and cleaned.get(high) is not None and cleaned[low] > cleaned[high]:
                self.add_error(high, _("The upper bound is below the lower one."))
        return cleaned

    def rules(self) -> dict:
        """The cleaned rules as JSON: empty ones left out, objects as their ids."""
        rules = {}
        for name, value in self.cleaned_data.items():
            if isinstance(value, QuerySet):
                value = sorted(obj.pk for obj in value)
            elif isinstance(value, Decimal):
                value = str(value)
            if value not in (None, "", []):
                rules[name] = value
        return rules


def rules_form(rules: dict) -> SegmentRules:
    """The stored rules as a bound form (what the admin shows and validates)."""
    return SegmentRules(data=dict(rules))


def segment_customers(rules: dict, *, now: datetime | None = None) -> QuerySet:
    """The customers meeting every rule. Raises ValueError for rules that no longer
    validate (a product deleted since, say)."""
    form = rules_form(rules)
    if not form.is_valid():
        raise ValueError(form.errors.as_text())
    given = form.cleaned_data
    now = now or timezone.now()
    customers = Customer.objects.all()
    score = {}
    if given.get("min_spend") is not None:
        score["score__revenue__gte"] = given["min_spend"]
    if given.get("max_spend") is not None:
        score["score__revenue__lte"] = given["max_spend"]
    if given.get("min_orders") is not None:
        score["score__orders__gte"] = given["min_orders"]
    if given.get("max_orders") is not None:
        score["score__orders__lte"] = given["max_orders"]
    if given.get("no_order_for_days"):
        score["score__last_order_at__lt"] = now - timedelta(days=given["no_order_for_days"])
    if given.get("ordered_within_days"):
        score["score__last_order_at__gte"] = now - timedelta(days=given["ordered_within_days"])
    if given.get("nps_groups"):
        score["score__nps_group__in"] = given["nps_groups"]
    if given.get("min_churn_risk") is not None:
        score["score__churn_risk__gte"] = given["min_churn_risk"]
    customers = customers.filter(**score)
    if given.get("channels"):
        customers = customers.filter(acquisition_channel__in=given["channels"])
    if given.get("locales"):
        customers = customers.filter(locale__in=given["locales"])
    if given.get("tiers"):
        customers = customers.filter(loyalty__tier__in=given["tiers"])
    counted = ~Q(order__status__in=COUNTED_EXCLUDED_STATUSES)
    if given.get("products"):
        bought = OrderLine.objects.filter(counted, order__customer=OuterRef("pk"), product__in=given["products"])
        customers = customers.filter(Exists(bought))
    if given.get("used_discount_code"):
        used = Exists(Order.objects.counted().filter(customer=OuterRef("pk")).exclude(discount_code=""))
        customers = customers.filter(used if given["used_discount_code"] == "yes" else ~used)
    if given.get("open_complaint"):
        open_complaint = Exists(
            Ticket.objects.filter(customer=OuterRef("pk"), kind=TicketKind.COMPLAINT, status__in=ACTIVE_STATUSES)
        )
        customers = customers.filter(open_complaint if given["open_complaint"] == "yes" else ~open_complaint)
    return customers
