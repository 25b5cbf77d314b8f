"""Everything the project holds about one customer, as one JSON document: for a
customer who asks what is stored about them (the GDPR's right of access), and to hand
their data to them in a form a machine can read (data portability).

One query per kind of record, whatever the customer's history holds (pinned in
insights/tests/test_personal_data.py). Internal notes and logged calls are included:
they are about the person too, and the manager who sends the file decides what goes.
What identifies nobody and belongs to the business stays out: SLA bookkeeping, scores
computed by the project (churn risk), staff names.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.http import HttpResponse

from customers.models import Customer, Message, Order, OrderLine, Unsubscribe
from feedback.models import Reminder, SurveyInvitation, SurveyResponse, Ticket
from loyalty.models import Account, Entry, Redemption

FORMAT_VERSION = 1
# Who may download it: whoever may export customers (the Support manager role).
PERSONAL_DATA_PERMISSION = "customers.export_customer"


def personal_data(customer: Customer) -> dict:
    """The customer's data, newest records first in each list."""
    return {
        "format": FORMAT_VERSION,
        "customer": _customer(customer),
        "orders": _orders(customer),
        "tickets": list(
            Ticket.objects.filter(customer=customer)
            .order_by("-created_at", "-id")
            .values(
                "id",
                "order_reference",
                "kind",
                "channel",
                "priority",
                "status",
                "subject",
                "description",
                "language",
                "created_at",
                "resolved_at",
            )
        ),
        "messages": list(
            Message.objects.filter(customer=customer)
            .order_by("-occurred_at", "-id")
            .values(
                "occurred_at",
                "entry",
                "kind",
                "channel",
                "from_email",
                "to_email",
                "subject",
                "body",
                "delivery",
                "sent_at",
                "ticket_id",
            )
        ),
        "reminders": list(
            Reminder.objects.filter(customer=customer)
            .order_by("-due_at", "-id")
            .values("kind", "due_at", "note", "done_at", "outcome", "ticket_id")
        ),
        "survey_invitations": list(
            SurveyInvitation.objects.filter(customer=customer)
            .order_by("-created_at", "-id")
            .values("id", "status", "language", "created_at", "sent_at", "opened_at", "answered_at", "expires_at")
            .annotate(survey_name=F("survey__name"))
        ),
        "survey_responses": list(
            SurveyResponse.objects.filter(customer=customer)
            .order_by("-submitted_at", "-id")
            .values("submitted_at", "score", "answers", "language", "invitation_id")
            .annotate(survey_name=F("survey__name"))
        ),
        "loyalty": _loyalty(customer),
        "unsubscribed": bool(customer.email) and Unsubscribe.objects.filter(email=customer.email.lower()).exists(),
    }


def _customer(customer: Customer) -> dict:
    # Every column: each is about the person, and one added later is in the file at once.
    return {field.attname: getattr(customer, field.attname) for field in Customer._meta.concrete_fields}


def _orders(customer: Customer) -> list[dict]:
    orders = list(
        Order.objects.filter(customer=customer)
        .order_by("-placed_at", "-id")
        .values("id", "external_id", "placed_at", "total", "refunded_total", "currency", "status", "discount_code")
    )
    lines: dict[int, list] = {}
    for line in (
        OrderLine.objects.filter(order__customer=customer)
        .order_by("id")
        .values("order_id", "quantity", "unit_price", sku=F("product__sku"), product_name=F("product__name"))
    ):
        lines.setdefault(line.pop("order_id"), []).append(line)
    for order in orders:
        order["lines"] = lines.get(order.pop("id"), [])
    return orders


def _loyalty(customer: Customer) -> dict | None:
    account = (
        Account.objects.filter(customer=customer)
        .values("balance", "pending", "referral_code", "tier_since", "tier_held_until", "created_at")
        .annotate(tier_names=F("tier__names"))
        .first()
    )
    if account is None:
        return None
    account["entries"] = list(
        Entry.objects.filter(account_id=customer.pk)
        .order_by("-id")
        .values("created_at", "kind", "points", "reason", "pending", "available_at", "expires_at")
    )
    account["redemptions"] = list(
        Redemption.objects.filter(account_id=customer.pk)
        .order_by("-created_at", "-id")
        .values("created_at", "code", "points", "status", "expires_at")
        .annotate(reward_names=F("reward__names"))
    )
    return account


def personal_data_response(customer: Customer) -> HttpResponse:
    """The document as JSON: amounts as strings (exact), moments in ISO 8601."""
    body = json.dumps(personal_data(customer), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    return HttpResponse(body, content_type="application/json; charset=utf-8")
