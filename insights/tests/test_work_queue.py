"""The at-risk work queue: sorted by value at risk, a customer is taken by one member of
staff at a time (also when two take them at once), and closing says what was done."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, Message
from customers.tests.factories import CustomerFactory
from insights.models import CustomerScore, Outreach
from insights.services import outreach_take

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def at_risk(name: str, risk: int, clv: str) -> CustomerScore:
    customer = CustomerFactory(name=name)
    value = (Decimal(clv) * risk / 100).quantize(Decimal("0.01"))
    return CustomerScore.objects.create(
        customer=customer, churn_risk=risk, risk_rhythm=risk, predicted_clv=Decimal(clv), value_at_risk=value,
        computed_at=NOW,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_queue_puts_the_most_value_at_risk_first_and_leaves_out_the_safe(agent_client):
    at_risk("Small", 90, "100")  # 90 at risk
    at_risk("Big", 40, "1000")  # 400 at risk
    at_risk("Safe", 0, "5000")
    forgotten = at_risk("Forgotten", 80, "2000")
    Customer.objects.filter(pk=forgotten.customer_id).update(name="Erased one", erased_at=NOW)
    page = agent_client.get("/admin/insights/atriskcustomer/").content.decode()
    assert page.index("Big") < page.index("Small")
    assert "Safe" not in page and "Erased one" not in page  # nobody left to reach
    assert "overdue 40" in page


@pytest.mark.django_db
def test_taking_a_customer_and_closing_the_outreach_logs_it_on_the_timeline(agent_client, agent):
    score = at_risk("Ann", 70, "500")
    response = agent_client.post(
        "/admin/insights/atriskcustomer/", {"action": "take", "_selected_action": [score.pk]}, follow=True
    )
    assert "You took 1 customer." in response.content.decode()
    outreach = Outreach.objects.get()
    assert (outreach.taken_by, outreach.churn_risk, outreach.value_at_risk) == (agent, 70, Decimal("350.00"))
    page = agent_client.get("/admin/insights/atriskcustomer/?taken=mine").content.decode()
    assert "Ann" in page

    url = f"/admin/insights/outreach/{outreach.pk}/change/"
    refused = agent_client.post(url, {"outcome": "reached", "contact": "call", "log": ""})
    assert "Say what you did before you close the outreach." in refused.content.decode()
    agent_client.post(url, {"outcome": "reached", "contact": "call", "log": "She stays; sent a voucher"})
    outreach.refresh_from_db()
    assert outreach.outcome == "reached" and outreach.closed_at is not None
    logged = Message.objects.get(customer=score.customer)
    assert (logged.entry, logged.body, logged.author) == ("call", "She stays; sent a voucher", agent)
    # Closed: the customer can be taken again.
    assert outreach_take(customer_ids=[score.customer_id], user=agent) == [score.customer_id]


@pytest.mark.django_db
def test_a_customer_taken_by_a_colleague_is_left_to_them(agent_client, manager):
    score = at_risk("Bo", 50, "200")
    assert outreach_take(customer_ids=[score.customer_id], user=manager) == [score.customer_id]
    response = agent_client.post(
        "/admin/insights/atriskcustomer/", {"action": "take", "_selected_action": [score.pk]}, follow=True
    )
    assert "1 was taken by someone else already." in response.content.decode()
    assert Outreach.objects.get().taken_by == manager


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_taking_the_same_customers_at_once_get_one_outreach_each_customer():
    group = Group.objects.get(name="Support agent")
    users = [User.objects.create_user(f"racer{n}", password="x", is_staff=True) for n in range(2)]
    for user in users:
        user.groups.add(group)
    ids = [at_risk(f"R{n}", 60, "100").customer_id for n in range(20)]
    barrier = threading.Barrier(2)
    taken = {}

    def take(user):
        try:
            barrier.wait()
            taken[user.username] = outreach_take(customer_ids=ids, user=user)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Outreach.objects.filter(closed_at__isnull=True).count() == 20
    assert sorted(taken["racer0"] + taken["racer1"]) == sorted(ids)  # each customer to exactly one


@pytest.mark.django_db
def test_the_queue_costs_the_same_queries_for_many_customers(agent_client, manager):
    at_risk("First", 50, "100")
    agent_client.get("/admin/insights/atriskcustomer/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_client.get("/admin/insights/atriskcustomer/").status_code == 200
        return len(captured.captured_queries)

    few = queries()
    for number in range(40):
        score = at_risk(f"More{number}", 50 + number % 40, "100")
        if number % 3 == 0:
            outreach_take(customer_ids=[score.customer_id], user=manager)
    assert queries() == few
