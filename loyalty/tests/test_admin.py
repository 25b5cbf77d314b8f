"""Loyalty in the admin: the rules page, accounts, the read-only ledger, the adjustment
action (managers only, with a reason), goodwill from a ticket, the liability report."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from feedback.services import ticket_open
from loyalty.models import Account, Entry, EntryKind, Tier
from loyalty.services import points_adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(customer, manager, program):
    points_adjust(customer=customer, points=100, reason="Start", author=manager)
    return Account.objects.get(customer=customer)


def test_the_rules_list_opens_the_one_set_of_rules(manager_client, program):
    response = manager_client.get("/admin/loyalty/program/")
    assert response.status_code == 302 and response["Location"].endswith("/admin/loyalty/program/1/change/")
    assert manager_client.get(response["Location"]).status_code == 200


def test_the_rules_refuse_statuses_that_cannot_earn(manager_client, program):
    page = manager_client.get("/admin/loyalty/program/1/change/")
    assert page.status_code == 200
    response = manager_client.post(
        "/admin/loyalty/program/1/change/", {"points_per_unit": "1", "earning_statuses": ["refunded"]}
    )
    assert response.status_code == 200  # the form again, with errors
    assert "refunded" not in Account._meta.app_config.get_model("Program").objects.get().earning_statuses


def test_accounts_and_ledger_pages(manager_client, agent_client, member):
    for client in (manager_client, agent_client):
        assert client.get("/admin/loyalty/account/").status_code == 200
        page = client.get(f"/admin/loyalty/account/{member.pk}/change/")
        assert page.status_code == 200
        # A page to read: no Save button that would save nothing; the ledger one click away.
        assert 'name="_save"' not in page.content.decode() and "All entries" in page.content.decode()
        assert client.get("/admin/loyalty/entry/").status_code == 200
    entry = Entry.objects.get()
    response = manager_client.post(f"/admin/loyalty/entry/{entry.pk}/change/", {"points": "9999"})
    assert response.status_code == 403  # the ledger changes through the services alone
    assert manager_client.get("/admin/loyalty/entry/add/").status_code == 403


def test_managers_adjust_with_a_reason_and_agents_cannot(manager_client, agent_client, member):
    ask = {"action": "adjust_points", ACTION_CHECKBOX_NAME: [member.pk]}
    assert manager_client.post("/admin/loyalty/account/", ask).status_code == 200  # the form
    response = manager_client.post("/admin/loyalty/account/", {**ask, "apply": "1", "points": "-40", "reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    manager_client.post("/admin/loyalty/account/", {**ask, "apply": "1", "points": "-40", "reason": "Duplicate"})
    member.refresh_from_db()
    assert member.balance == 60
    assert Entry.objects.filter(kind=EntryKind.ADJUST, points=-40, reason="Duplicate").exists()
    agent_client.post("/admin/loyalty/account/", {**ask, "apply": "1", "points": "500", "reason": "Me"})
    member.refresh_from_db()
    assert member.balance == 60


def test_an_adjustment_applied_twice_from_one_form_is_one_adjustment(manager_client, member):
    """A double click on "Apply" adjusted the points twice."""
    before = Entry.objects.filter(kind=EntryKind.ADJUST).count()
    ask = {"action": "adjust_points", ACTION_CHECKBOX_NAME: [member.pk]}
    form = manager_client.post("/admin/loyalty/account/", ask).content.decode()
    submission = re.search(r'name="submission" value="(\w+)"', form).group(1)
    apply = {**ask, "apply": "1", "points": "25", "reason": "Parcel late", "submission": submission}
    for _ in range(2):
        response = manager_client.post("/admin/loyalty/account/", apply, follow=True)
        assert "1 account adjusted." in response.content.decode()
    member.refresh_from_db()
    assert member.balance == 125 and Entry.objects.filter(kind=EntryKind.ADJUST).count() == before + 1
    manager_client.post("/admin/loyalty/account/", {**apply, "reason": "Another reason"})  # other words: another
    assert Entry.objects.filter(kind=EntryKind.ADJUST).count() == before + 2


def test_goodwill_from_the_ticket_list(manager_client, customer, program):
    ticket = ticket_open(email=customer.email, name="", description="Late.", kind="complaint")
    ask = {"action": "give_goodwill", ACTION_CHECKBOX_NAME: [ticket.pk]}
    assert manager_client.post("/admin/feedback/ticket/", ask).status_code == 200
    manager_client.post("/admin/feedback/ticket/", {**ask, "apply": "1", "points": "100", "reason": ""})
    assert Entry.objects.get(kind=EntryKind.GOODWILL, ticket=ticket).points == 100
    # Applied twice from one form (a double click): one gift.
    form = manager_client.post("/admin/feedback/ticket/", ask).content.decode()
    submission = re.search(r'name="submission" value="(\w+)"', form).group(1)
    for _ in range(2):
        apply = {**ask, "apply": "1", "points": "50", "reason": "Sorry", "submission": submission}
        manager_client.post("/admin/feedback/ticket/", apply)
    assert Entry.objects.filter(kind=EntryKind.GOODWILL, ticket=ticket).count() == 2


def test_the_liability_report(manager_client, agent_client, member):
    page = manager_client.get("/admin/loyalty/account/liability/")
    assert page.status_code == 200
    assert "1.00" in page.content.decode()  # 100 points × 0.01
    assert agent_client.get("/admin/loyalty/account/liability/").status_code == 403


def test_the_account_list_takes_a_fixed_number_of_queries(
    manager_client, manager, program, django_assert_max_num_queries
):
    from customers.models import Customer

    for n in range(30):
        points_adjust(
            customer=Customer.objects.create(external_id=f"AQ-{n}", email=f"aq{n}@example.com"),
            points=5,
            reason="x",
            author=manager,
        )
    manager_client.get("/admin/loyalty/account/")
    with django_assert_max_num_queries(8):
        assert manager_client.get("/admin/loyalty/account/").status_code == 200


def test_the_tier_page_has_a_box_per_language_holding_each_name(manager_client):
    tier = Tier.objects.create(rank=9, names={"en": "Platinum", "ko": "플래티넘"}, threshold=9000)
    page = manager_client.get(f"/admin/loyalty/tier/{tier.pk}/change/").content.decode()
    assert 'name="names__ko"' in page and 'value="플래티넘"' in page
    assert 'name="names__da"' in page and 'name="benefits__zh-hans"' in page


@pytest.mark.parametrize(
    ("field", "too_long", "longest"),
    [
        ("pending_days", "3000000", "3650"),
        ("downgrade_grace_days", "3000000", "3650"),
        ("expiry_months", "100000", "1200"),
        ("tier_window_months", "100000", "1200"),
    ],
)
def test_the_rules_refuse_spans_that_would_break_every_order(
    manager_client, program, buy, customer, field, too_long, longest
):
    """Saved, 3,000,000 pending days put every earned credit's date past the year 9999:
    every paid order then failed to post (OverflowError), from the API and the imports."""
    url = "/admin/loyalty/program/1/change/"
    errors = manager_client.post(url, {field: too_long}).context["adminform"].form.errors
    assert errors[field] == [f"Ensure this value is less than or equal to {longest}."]
    assert field not in manager_client.post(url, {field: longest}).context["adminform"].form.errors
    setattr(program, field, int(longest))
    program.save()
    buy(customer, "100.00")  # the longest allowed still earns
    assert Entry.objects.filter(kind=EntryKind.EARN).count() == 1


def test_a_tier_ranked_higher_asks_a_higher_threshold(manager_client):
    """Gold ranked above Silver but asking less made Silver unreachable: every member who
    reached Silver's threshold had reached Gold's first."""
    silver = Tier.objects.get(names__en="Silver")
    gold = Tier.objects.get(names__en="Gold")
    form = {"rank": gold.rank, "names__en": "Gold", "multiplier": "1.5", "membership_months": "12"}
    url = f"/admin/loyalty/tier/{gold.pk}/change/"
    response = manager_client.post(url, {**form, "threshold": str(silver.threshold)})
    assert response.context["adminform"].form.errors["threshold"] == [
        f"Silver ranks lower and asks {silver.threshold}: a higher rank needs a higher threshold."
    ]
    tin = {**form, "rank": "0", "names__en": "Tin", "threshold": "999999"}
    response = manager_client.post("/admin/loyalty/tier/add/", tin)
    assert response.context["adminform"].form.errors["threshold"] == [
        "Bronze ranks higher and asks 0.00: a lower rank needs a lower threshold."
    ]
    assert manager_client.post(url, {**form, "threshold": str(silver.threshold + 1)}).status_code == 302


def test_the_rules_currency_is_a_code_orders_can_match(manager_client, program):
    """Orders carry their currency in upper case: rules saved with "eur" matched no
    order, and nothing earned points, without a word."""
    url = "/admin/loyalty/program/1/change/"
    errors = manager_client.post(url, {"currency": "eur"}).context["adminform"].form.errors
    assert errors["currency"] == ["Use a three-letter ISO 4217 code such as EUR."]
    assert "currency" not in manager_client.post(url, {"currency": "EUR"}).context["adminform"].form.errors


def test_staff_read_a_tiers_name_in_their_own_language(manager_client, member, tiers):
    gold = tiers["gold"]
    gold.names = {"en": "Gold", "ko": "골드"}
    gold.save()
    Account.objects.filter(pk=member.pk).update(tier=gold)
    korean = manager_client.get(f"/admin/loyalty/account/{member.pk}/change/", HTTP_ACCEPT_LANGUAGE="ko")
    assert "골드" in korean.content.decode()
    english = manager_client.get(f"/admin/loyalty/account/{member.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Gold" in english.content.decode() and "골드" not in english.content.decode()


def test_the_ledger_says_what_each_entry_is_in_the_staff_members_language(
    manager_client, member, customer, buy, django_assert_max_num_queries
):
    """The stored reason is in the language of whoever wrote the entry (a task's
    English): a Russian manager read "Order O-1"."""
    buy(customer, "20", order_id="O-77")
    for n in range(5):
        buy(customer, "10", order_id=f"O-8{n}")
    manager_client.get("/admin/loyalty/entry/")
    with django_assert_max_num_queries(8):  # the orders come with the page, not one by one
        page = manager_client.get("/admin/loyalty/entry/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert '<td class="field-what">Заказ O-77</td>' in page
    assert '<td class="field-what">Start</td>' in page  # the manager's own words, as written
