"""Erasing a customer's personal data at their request (customers.services.customer_erase):
what identifies them goes from every table, every personal link stops working, emails
waiting to go are cancelled, and the figures made of what stays do not change."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from customers.metrics import period_validate, retention_figures
from customers.models import Customer, Delivery, Entry, Message, Order
from customers.outbox import Rendered, email, email_write, message_deliver
from customers.services import customer_erase, inactive_customers_erase, order_create
from feedback.models import Survey, SurveyInvitation, SurveyResponse, Ticket, TicketAccess
from feedback.services import ticket_message_receive, ticket_open
from feedback.services.emails import ticket_link
from feedback.surveys.models import InvitationStatus
from feedback.surveys.services import survey_invite, survey_response_submit
from loyalty.models import Account
from loyalty.models import Entry as LedgerEntry
from loyalty.notices import page_url

pytestmark = pytest.mark.django_db

SECRET = "my flat is on Nørregade 12"


@pytest.fixture
def ann(program):
    customer = Customer.objects.create(
        external_id="C-1",
        email="ann@example.com",
        name="Ann Archer",
        phone="+45 12 34 56 78",
        birthday=date(1990, 5, 17),
        marketing_consent=True,
        survey_consent=True,
    )
    for number, day in enumerate((date(2025, 1, 10), date(2025, 6, 10), date(2026, 1, 10))):
        order_create(
            order_id=f"O-{number}",
            customer_id="C-1",
            placed_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
            total=Decimal("80.00"),
            currency="EUR",
            status="paid",
        )
    ticket = ticket_open(email="ann@example.com", name="Ann Archer", subject="Broken lid", description=SECRET)
    ticket_message_receive(ticket=ticket, body=f"Again: {SECRET}", channel="email", from_email="ann@example.com")
    Message.objects.create(  # a warning to the assignee, which names the customer
        ticket=ticket, entry=Entry.STAFF, kind="sla_warning", to_email="agent@example.com",
        subject="Ticket due", body="Ticket of Ann Archer is due to be resolved.", delivery=Delivery.SENT,
    )  # fmt: skip
    return Customer.objects.get(pk=customer.pk)


@pytest.fixture
def program(db):
    from loyalty.models import Program

    return Program.objects.get()


def links(customer: Customer) -> dict[str, str]:
    """One of each personal link the customer can hold, made before the erasure."""
    survey = Survey.objects.get(kind="nps")
    sent = survey_invite(survey=survey, customer=customer, source="api")
    answered = SurveyInvitation.objects.create(survey=survey, customer=customer, source="api", status="sent")
    survey_response_submit(token=answered.token, answers={"score": "3", "reason": SECRET})  # a recovery ticket
    now = datetime.now(UTC)
    return {
        "ticket": urlsplit(ticket_link(customer.tickets.order_by("id").first())).path,
        "survey": urlsplit(sent.url()).path,
        "loyalty": urlsplit(page_url(Account.objects.get(customer=customer), now=now)).path,
    }


def test_erasure_takes_what_identifies_the_customer_and_keeps_the_figures(ann, client):
    period = period_validate(start=date(2026, 1, 1), end=date(2026, 3, 31))
    figures = retention_figures(period)
    personal = links(ann)
    for path in personal.values():
        assert client.get(path).status_code == 200, path
    scheduled = SurveyInvitation.objects.create(
        survey=Survey.objects.get(kind="csat"),
        customer=ann,
        source="api",
        send_at=datetime.now(UTC) + timedelta(days=1),
    )
    balance = Account.objects.get(customer=ann).balance
    bounced = Message.objects.filter(customer=ann, entry=Entry.INBOUND).first()
    Message.objects.filter(pk=bounced.pk).update(last_error="550 ann@example.com: no such user")
    assert Message.objects.filter(customer=ann, delivery=Delivery.PENDING).exists()  # the acknowledgment

    customer_erase(customer_id=ann.pk)

    ann.refresh_from_db()
    assert (ann.name, ann.email, ann.phone, ann.birthday) == ("", None, "", None)
    assert not ann.marketing_consent and not ann.survey_consent and ann.erased_at is not None
    assert ann.external_id == "C-1" and ann.orders.count() == 3
    assert retention_figures(period) == figures
    for message in Message.objects.filter(customer=ann).exclude(entry=Entry.NOTE):
        assert (message.from_email, message.to_email, message.subject, message.body) == ("", "", "", "")
        assert message.body_html == "" and message.context == {}
        assert message.delivery != Delivery.PENDING and message.last_error in ("", "personal data erased")
    note = Message.objects.get(customer=ann, entry=Entry.NOTE)
    assert note.body == "Personal data erased at the customer's request."
    assert Ticket.objects.filter(customer=ann).count() == 2  # the complaint and the recovery one
    for ticket in Ticket.objects.filter(customer=ann):
        assert (ticket.subject, ticket.description) == ("—", "")
    assert not TicketAccess.objects.exists()
    for path in personal.values():
        assert client.get(path).status_code == 404, path
    scheduled.refresh_from_db()
    assert scheduled.status == InvitationStatus.SKIPPED and scheduled.send_at is None
    assert SurveyResponse.objects.get(customer=ann).answers == {"score": 3}
    assert Account.objects.get(customer=ann).balance == balance
    assert LedgerEntry.objects.filter(account__customer=ann).exists()
    assert not Customer.objects.with_email("ann@example.com").exists()
    dumped = (
        repr(list(Message.objects.values()))
        + repr(list(Ticket.objects.values()))
        + repr(list(Customer.objects.values()))
    )
    assert SECRET not in dumped and "Ann Archer" not in dumped and "ann@example.com" not in dumped


def test_a_manager_erases_from_the_customer_list_after_confirming(ann, manager_client, agent_client):
    url = reverse("admin:customers_customer_changelist")
    chosen = {"action": "erase_personal_data", ACTION_CHECKBOX_NAME: [ann.pk]}
    page = manager_client.post(url, chosen)
    assert page.status_code == 200 and "This cannot be undone." in page.content.decode()
    assert "Erase the personal data of 1 customer" in page.content.decode()
    assert Customer.objects.get(pk=ann.pk).erased_at is None  # asked, not done
    manager_client.post(url, {**chosen, "apply": "1"})  # without the confirmation: the form again
    assert Customer.objects.get(pk=ann.pk).erased_at is None
    done = manager_client.post(url, {**chosen, "apply": "1", "confirm": "on"}, follow=True)
    assert "The personal data of 1 customer was erased." in done.content.decode()
    assert Customer.objects.get(pk=ann.pk).email is None
    page = manager_client.get(reverse("admin:customers_customer_change", args=[ann.pk]))
    assert page.status_code == 200 and "Personal data erased at the customer&#x27;s request." in page.content.decode()
    assert "erase_personal_data" not in agent_client.get(url).content.decode()
    response = agent_client.post(url, {**chosen, "apply": "1", "confirm": "on"})
    assert Message.objects.filter(customer=ann, entry=Entry.NOTE).count() == 1  # the agent's did nothing
    assert response.status_code in (200, 302)


def test_the_api_erases_for_managers_only(ann, manager_api, agent_api):
    assert agent_api.post(f"/api/customers/{ann.pk}/erase/").status_code == 403
    assert Customer.objects.get(pk=ann.pk).email == "ann@example.com"
    response = manager_api.post(f"/api/customers/{ann.pk}/erase/")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] is None and body["name"] == "" and body["erased_at"]
    assert manager_api.post("/api/customers/999999/erase/").status_code == 404
    again = manager_api.post(f"/api/customers/{ann.pk}/erase/")  # erasing twice is harmless
    assert again.status_code == 200 and Order.objects.filter(customer=ann).count() == 3


def resolved_email(customer: Customer, to: str, key: str) -> Message:
    """A ticket_resolved email to the customer, written as another transaction would."""
    rendered = Rendered(subject="Resolved", text="Hello", html="")
    message = email(
        kind="ticket_resolved",
        to_email=to,
        rendered=rendered,
        language="en",
        key=key,
        customer=customer,
        automatic=True,
    )
    return email_write(message)[0]


def test_an_email_written_meanwhile_to_an_erased_customer_is_not_sent(ann, mailoutbox):
    """The erasure cancels the emails pending when it runs; one that another transaction
    wrote meanwhile (a resolution someone made at that moment) commits after it, with
    the old address, and is cancelled when its delivery comes. Before, it was sent."""
    customer_erase(customer_id=ann.pk)
    late = resolved_email(ann, "ann@example.com", "late:1")
    assert late.entry == Entry.OUTBOUND and late.delivery == Delivery.PENDING
    assert message_deliver(late.pk) == "cancelled"
    assert mailoutbox == []
    Customer.objects.filter(pk=ann.pk).update(email="ann.new@example.com")  # the shop sent an address again
    again = resolved_email(Customer.objects.get(pk=ann.pk), "ann.new@example.com", "late:2")
    outcome = message_deliver(again.pk)
    assert outcome == "sent", Message.objects.get(pk=again.pk).last_error
    assert len(mailoutbox) == 1


def test_customers_inactive_for_the_set_days_are_erased_at_night_and_no_others(settings, program):
    """CUSTOMER_ERASE_INACTIVE_DAYS: only customers with no order, message or ticket in
    that time, and none still open, are erased; 0 erases nobody."""
    now = datetime(2026, 12, 1, 4, tzinfo=UTC)
    long_ago = now - timedelta(days=1000)

    def customer(name: str, *, created=long_ago) -> Customer:
        made = Customer.objects.create(external_id=name, email=f"{name}@example.com", name=name, first_seen=long_ago)
        Customer.objects.filter(pk=made.pk).update(created_at=created)
        return made

    def order(owner: Customer, placed_at: datetime) -> None:
        order_create(order_id=f"{owner.external_id}-{placed_at:%Y%m%d}", customer_id=owner.external_id,
                     placed_at=placed_at, total=Decimal("10.00"), currency="EUR", status="paid")  # fmt: skip

    gone = customer("gone")
    order(gone, long_ago)
    never_bought = customer("silent")  # a contact who never ordered or wrote since
    recent_buyer = customer("buyer")
    order(recent_buyer, now - timedelta(days=100))
    open_complaint = customer("complaint")
    ticket = ticket_open(email="complaint@example.com", subject="Still broken", description="x")
    Ticket.objects.filter(pk=ticket.pk).update(created_at=long_ago)
    Message.objects.filter(customer=open_complaint).update(occurred_at=long_ago)
    wrote_lately = customer("wrote")
    Message.objects.create(
        customer=wrote_lately, entry=Entry.INBOUND, body="Hello?", occurred_at=now - timedelta(days=30)
    )
    just_imported = customer("imported", created=now - timedelta(days=2))

    settings.CUSTOMER_ERASE_INACTIVE_DAYS = 0
    assert inactive_customers_erase(now=now) == 0
    settings.CUSTOMER_ERASE_INACTIVE_DAYS = 730
    assert inactive_customers_erase(now=now) == 2
    never_bought.refresh_from_db()
    assert never_bought.erased_at == now
    gone.refresh_from_db()
    assert gone.erased_at == now and gone.email is None and gone.orders.count() == 1
    note = Message.objects.get(customer=gone, entry=Entry.NOTE)
    assert note.body == "Personal data erased after 730 days without activity."
    for kept in (recent_buyer, open_complaint, wrote_lately, just_imported):
        kept.refresh_from_db()
        assert kept.erased_at is None and kept.email, kept.external_id
    assert inactive_customers_erase(now=now) == 0  # nothing more; the erased stay out


def test_a_customer_who_orders_while_the_job_runs_is_not_erased(settings, program, monkeypatch):
    """The candidates are found first, then each is checked again under its row's lock:
    an order recorded in between (it takes the same lock) keeps the customer."""
    from customers import services

    now = datetime(2026, 12, 1, 4, tzinfo=UTC)
    settings.CUSTOMER_ERASE_INACTIVE_DAYS = 365
    long_ago = now - timedelta(days=1000)
    late = Customer.objects.create(external_id="late", email="late@example.com", first_seen=long_ago)
    Customer.objects.filter(pk=late.pk).update(created_at=long_ago)
    found = services.inactive_customers

    def then_an_order(*, since, among=None):
        chosen = found(since=since, among=among)
        if among is None:  # the pass that finds the candidates
            order_create(order_id="LATE-1", customer_id="late", placed_at=now, total=Decimal("5.00"), currency="EUR")
        return chosen

    monkeypatch.setattr(services, "inactive_customers", then_an_order)
    assert services.inactive_customers_erase(now=now) == 0
    late.refresh_from_db()
    assert late.erased_at is None and late.email == "late@example.com"


def test_a_retention_shorter_than_a_year_is_refused_at_start():
    """A typo of 3 would erase nearly everybody overnight."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CUSTOMER_ERASE_INACTIVE_DAYS": "3"}
    done = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "CUSTOMER_ERASE_INACTIVE_DAYS must be 0 (never) or at least 365." in done.stderr


def test_a_manager_erases_from_the_customers_page(ann, manager_client, agent_client):
    page = reverse("admin:customers_customer_change", args=[ann.pk])
    url = reverse("admin:customers_customer_erase", args=[ann.pk])
    assert url in manager_client.get(page).content.decode()
    assert url not in agent_client.get(page).content.decode()
    assert agent_client.get(url).status_code == 403
    asked = manager_client.get(url)
    assert asked.status_code == 200 and "Erase the personal data of 1 customer" in asked.content.decode()
    assert manager_client.post(url, {"apply": "1"}).status_code == 200  # not confirmed: the form again
    assert Customer.objects.get(pk=ann.pk).erased_at is None
    done = manager_client.post(url, {"apply": "1", "confirm": "on"})
    assert done.status_code == 302 and done["Location"] == page
    assert Customer.objects.get(pk=ann.pk).email is None
    assert manager_client.get(reverse("admin:customers_customer_erase", args=[999999])).status_code == 404
