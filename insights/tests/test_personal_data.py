"""Everything about one customer as one JSON document (their right of access): what it
holds, who may have it, and a number of queries that does not grow with the history."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Entry as TimelineEntry
from customers.models import Message, OrderLine, Product, Unsubscribe
from customers.services import customer_erase
from customers.tests.factories import CustomerFactory, OrderFactory
from feedback.models import Reminder, SlaPolicy, Survey, SurveyInvitation, SurveyResponse, Ticket
from insights.personal_data import personal_data
from loyalty.models import Account, Entry, Redemption, Reward

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def history(customer, size: int = 1) -> None:
    """`size` records of every kind the document holds."""
    staff = User.objects.get_or_create(username="pd-staff")[0]
    mug = Product.objects.get_or_create(sku="MUG", defaults={"name": "Mug"})[0]
    account = Account.objects.create(customer=customer, referral_code=f"REF{customer.pk:05d}", balance=25 * size)
    survey = Survey.objects.get(kind="nps")
    reward = Reward.objects.first()
    for number in range(size):
        moment = T0 + timedelta(days=number)
        order = OrderFactory(
            customer=customer, external_id=f"P-{customer.pk}-{number}", placed_at=moment, total=Decimal("12.50")
        )
        OrderLine.objects.create(order=order, product=mug, quantity=2, unit_price=Decimal("6.25"))
        ticket = Ticket.objects.create(
            customer=customer, kind="complaint", subject=f"Broken lid {number}", description="It broke",
            policy=SlaPolicy.objects.get(is_default=True), created_at=moment,
        )  # fmt: skip
        Message.objects.create(
            customer=customer, ticket=ticket, entry=TimelineEntry.INBOUND, body="Where is my lid?",
            from_email=customer.email, occurred_at=moment,
        )  # fmt: skip
        invitation = SurveyInvitation.objects.create(
            survey=survey, customer=customer, source="api", key=f"pd:{customer.pk}:{number}"
        )
        SurveyResponse.objects.create(
            invitation=invitation, survey=survey, customer=customer, score=Decimal("4"),
            answers={"score": 4, "reason": "The lid"}, submitted_at=moment,
        )  # fmt: skip
        Entry.objects.create(
            account=account,
            kind="adjust",
            points=25,
            key=f"pd:{customer.pk}:{number}",
            reason="Sorry",
            created_at=moment,
        )
        Redemption.objects.create(
            account=account, reward=reward, points=0, code=f"PD{customer.pk}X{number}", given=True
        )
        Reminder.objects.create(
            customer=customer, ticket=ticket, note="Call about the lid", due_at=moment, assignee=staff
        )


def test_the_document_holds_every_kind_of_record():
    customer = CustomerFactory(email="ann@example.com", name="Ann Archer", phone="+45 1234")
    history(customer)
    Unsubscribe.objects.create(email="ann@example.com")
    data = json.loads(json.dumps(personal_data(customer), default=str))
    assert data["customer"]["email"] == "ann@example.com" and data["customer"]["phone"] == "+45 1234"
    (order,) = data["orders"]
    assert order["total"] == "12.50" and order["lines"] == [
        {"quantity": 2, "unit_price": "6.25", "sku": "MUG", "product_name": "Mug"}
    ]
    assert data["tickets"][0]["subject"] == "Broken lid 0"
    assert data["messages"][0]["body"] == "Where is my lid?"
    assert data["survey_responses"][0]["answers"] == {"score": 4, "reason": "The lid"}
    assert data["survey_invitations"][0]["survey_name"] == "NPS"
    assert data["loyalty"]["balance"] == 25 and data["loyalty"]["entries"][0]["reason"] == "Sorry"
    assert data["loyalty"]["redemptions"][0]["code"].startswith("PD")
    assert data["reminders"][0]["note"] == "Call about the lid"
    assert data["unsubscribed"] is True


def test_the_queries_do_not_grow_with_the_history():
    small, large = CustomerFactory(), CustomerFactory()
    history(small, 1)
    history(large, 6)
    counts = []
    for customer in (small, large):
        with CaptureQueriesContext(connection) as queries:
            document = personal_data(customer)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 11
    assert len(document["orders"]) == 6 and len(document["loyalty"]["entries"]) == 6


def test_managers_download_it_from_the_api_and_the_admin_agents_do_not(
    manager_api, agent_api, manager_client, agent_client
):
    customer = CustomerFactory(email="ann@example.com")
    history(customer)
    response = manager_api.get(f"/api/customers/{customer.pk}/personal-data/")
    assert response.status_code == 200 and response.json()["orders"][0]["total"] == "12.50"
    assert agent_api.get(f"/api/customers/{customer.pk}/personal-data/").status_code == 403
    assert manager_api.get("/api/customers/999999/personal-data/").status_code == 404

    page = manager_client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    url = f"/admin/customers/customer/{customer.pk}/personal-data/"
    assert (
        url in page and url not in agent_client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    )
    download = manager_client.get(url)
    assert download["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}-personal-data.json"'
    assert json.loads(download.content)["customer"]["email"] == "ann@example.com"
    assert agent_client.get(url).status_code == 403


def test_after_an_erasure_the_document_shows_what_is_left():
    customer = CustomerFactory(email="ann@example.com", name="Ann Archer")
    history(customer)
    customer_erase(customer_id=customer.pk)
    customer.refresh_from_db()
    text = json.dumps(personal_data(customer), default=str)
    assert "ann@example.com" not in text and "Ann Archer" not in text and "The lid" not in text
    assert "Call about the lid" not in text
    document = personal_data(customer)
    assert document["customer"]["erased_at"] is not None and len(document["orders"]) == 1
    assert document["survey_responses"][0]["answers"] == {"score": 4}
