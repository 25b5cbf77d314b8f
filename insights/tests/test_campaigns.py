"""Win-back campaigns: sent in batches by the sweep with the contact-fatigue rules, once
per customer even with two sweeps at once; each customer's email in their language with
their own code; A/B variants drawn at random; results with Wilson intervals."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from customers.models import Customer, Message, Unsubscribe
from customers.outbox import message_deliver
from customers.tests.factories import OrderFactory
from customers.tests.test_concurrency import race
from feedback.models import SlaPolicy, Ticket
from insights import campaigns
from insights.campaigns import campaign_launch, campaign_results, campaigns_sweep, wilson_interval
from insights.models import CampaignStatus, Segment, WinBackCampaign, WinBackRecipient
from loyalty.models import Redemption, Reward, RewardKind

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def shopper(name: str, *, locale: str = "en", consent: bool = True, email: str | None = None) -> Customer:
    return Customer.objects.create(
        name=name, email=email if email is not None else f"{name.lower()}@example.com", locale=locale,
        marketing_consent=consent,
    )  # fmt: skip


def campaign_for(customers, **fields) -> WinBackCampaign:
    segment = Segment.objects.create(name=f"S{Segment.objects.count()}", rules={"locales": ["en", "da", "ko"]})
    reward = Reward.objects.create(kind=RewardKind.DISCOUNT, names={"en": "10 % off", "da": "10 % rabat"}, cost=100)
    defaults = {
        "name": "Come back",
        "segment": segment,
        "reward": reward,
        "subjects": {"en": "We miss you", "da": "Vi savner dig"},
        "bodies": {"en": "Dear {name},\n\nCome back soon.", "da": "Kære {name},\n\nKom snart igen."},
    }
    return WinBackCampaign.objects.create(**{**defaults, **fields})


@pytest.mark.django_db
def test_a_campaign_goes_out_in_batches_with_the_contact_rules(clock, monkeypatch):
    monkeypatch.setattr(campaigns, "BATCH", 2)  # three batches for five customers
    ann, bo = shopper("Ann", locale="da"), shopper("Bo")
    shopper("Cy", consent=False)
    shopper("Dee")
    Unsubscribe.objects.create(email="dee@example.com")
    eve = shopper("Eve")
    Ticket.objects.create(
        customer=eve,
        kind="complaint",
        subject="Late",
        description="Late",
        policy=SlaPolicy.objects.get(is_default=True),
    )
    campaign = campaign_for(Customer.objects.all())
    assert campaigns_sweep() == 0  # a draft is not sent
    assert campaign_launch(campaign) and not campaign_launch(campaign)

    assert campaigns_sweep(batches=1) == 2  # one batch per round
    assert campaigns_sweep() == 3
    campaign.refresh_from_db()
    assert (campaign.status, campaign.emailed, campaign.skipped) == (CampaignStatus.SENT, 2, 3)
    reasons = dict(WinBackRecipient.objects.values_list("customer__name", "skipped"))
    assert reasons == {
        "Ann": "",
        "Bo": "",
        "Cy": "no marketing consent",
        "Dee": "the address unsubscribed",
        "Eve": "an open complaint",
    }
    codes = Redemption.objects.filter(given=True, points=0)
    assert sorted(codes.values_list("account_id", flat=True)) == sorted([ann.pk, bo.pk])
    assert campaigns_sweep() == 0  # nothing twice
    assert Message.objects.filter(kind="win_back").count() == 2


@pytest.mark.django_db
def test_the_email_is_in_the_customers_language_with_their_own_code(clock, mailoutbox):
    ann = shopper("Ann", locale="da")
    campaign = campaign_for([ann])
    campaign_launch(campaign)
    campaigns_sweep()
    message = Message.objects.get(kind="win_back")
    assert message_deliver(message.pk) == "sent"
    (sent,) = mailoutbox
    code = WinBackRecipient.objects.get().code
    assert sent.subject == "Vi savner dig"
    assert "Kære Ann," in sent.body and "Kom snart igen." in sent.body
    assert code in sent.body and "10 % rabat" in sent.body
    assert sent.extra_headers["X-CRM-Kind"] == "win_back" and "List-Unsubscribe" in sent.extra_headers


@pytest.mark.django_db
def test_the_codes_last_day_ends_its_sentence_once_in_russian(clock, mailoutbox):
    """Russian dates end in "г.": the sentence's own full stop made "2026 г.." of it."""
    from insights.templatetags.insights import before_full_stop

    assert (before_full_stop("31 октября 2026 г."), before_full_stop("Oct. 31, 2026")) == (
        "31 октября 2026 г",
        "Oct. 31, 2026",
    )
    ivan = shopper("Ivan", locale="ru")
    campaign = campaign_for([ivan], segment=Segment.objects.create(name="ru", rules={"locales": ["ru"]}))
    Reward.objects.filter(pk=campaign.reward_id).update(code_valid_days=30)
    campaign_launch(campaign)
    campaigns_sweep()
    assert message_deliver(Message.objects.get(kind="win_back").pk) == "sent"
    (sent,) = mailoutbox
    html = sent.alternatives[0][0]
    assert re.search(r"Действует до \d+ \w+ \d{4} г\.(\n|$)", sent.body), sent.body
    assert "г.." not in sent.body and "г.." not in html and "Действует до" in html


@pytest.mark.django_db
def test_a_customer_gets_one_win_back_offer_in_the_quiet_period(clock):
    shopper("Ann")
    first = campaign_for([])
    campaign_launch(first)
    campaigns_sweep()
    second = campaign_for([], name="Again")
    campaign_launch(second)
    campaigns_sweep()
    skipped = WinBackRecipient.objects.get(campaign=second).skipped
    assert skipped == "a win-back email in the last 90 days"


@pytest.mark.django_db
def test_the_ab_split_is_random_and_variant_b_has_its_own_email(clock, mailoutbox):
    for number in range(200):
        shopper(f"P{number}")
    reward_b = Reward.objects.create(kind=RewardKind.FREE_SHIPPING, names={"en": "Free shipping"}, cost=100)
    campaign = campaign_for([], split=True, reward_b=reward_b, subjects_b={"en": "A gift for you"})
    campaign_launch(campaign)
    campaigns_sweep()
    variants = list(WinBackRecipient.objects.values_list("variant", flat=True))
    assert 70 <= variants.count("B") <= 130 and variants.count("A") + variants.count("B") == 200
    b = WinBackRecipient.objects.filter(variant="B").first()
    message = Message.objects.get(kind="win_back", customer=b.customer)
    message_deliver(message.pk)
    (sent,) = mailoutbox
    assert sent.subject == "A gift for you" and "Free shipping" in sent.body
    assert "Come back soon." in sent.body  # B has no text of its own: A's


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_email_each_customer_once(monkeypatch):
    monkeypatch.setattr(campaigns, "BATCH", 5)
    for number in range(40):
        shopper(f"R{number}")
    campaign = campaign_for([])
    campaign_launch(campaign)
    race(2, lambda _i: campaigns_sweep())
    assert Message.objects.filter(kind="win_back").count() == 40
    assert WinBackRecipient.objects.count() == 40
    assert Redemption.objects.filter(given=True).count() == 40


def test_the_wilson_interval_matches_the_formula():
    # 20 of 100: p = 0.2, z = 1.96 → (0.2 + 0.0192) / 1.0384 ± 1.96 × √(0.0016 + 0.000096) / 1.0384
    low, high = wilson_interval(20, 100)
    assert (low, high) == (13.34, 28.88)
    assert wilson_interval(0, 10) == (0.0, 27.75)  # never below 0, and not a zero-width interval
    assert wilson_interval(0, 0) is None


@pytest.mark.django_db
def test_results_count_orders_within_the_window_per_variant(clock):
    people = [shopper(f"W{number}") for number in range(4)]
    campaign = campaign_for([], measure_days=30)
    campaign_launch(campaign)
    campaigns_sweep()
    WinBackRecipient.objects.filter(customer=people[3]).update(variant="B")
    OrderFactory(customer=people[0], placed_at=NOW + timedelta(days=3), total=Decimal("40.00"))
    OrderFactory(customer=people[0], placed_at=NOW + timedelta(days=20), total=Decimal("10.00"))
    OrderFactory(customer=people[1], placed_at=NOW + timedelta(days=31), total=Decimal("99.00"))  # too late
    OrderFactory(customer=people[2], placed_at=NOW - timedelta(days=1), total=Decimal("99.00"))  # before
    OrderFactory(customer=people[3], placed_at=NOW + timedelta(days=1), total=Decimal("25.00"), status="cancelled")
    results = {result.variant: result for result in campaign_results(campaign)}
    assert (results["A"].emailed, results["A"].won_back, results["A"].revenue) == (3, 1, Decimal("50.00"))
    assert results["A"].rate == 33.33 and results["A"].interval == wilson_interval(1, 3)
    assert (results["B"].emailed, results["B"].won_back, results["B"].revenue) == (1, 0, Decimal("0.00"))


@pytest.mark.django_db
def test_the_recipients_list_says_who_ordered_again(clock, manager_client):
    people = [shopper(name) for name in ("Almawon", "Bertlate", "Cleonone")]
    campaign = campaign_for([], measure_days=10)
    campaign_launch(campaign)
    campaigns_sweep()
    OrderFactory(customer=people[0], placed_at=NOW + timedelta(days=9))
    OrderFactory(customer=people[1], placed_at=NOW + timedelta(days=11))  # after the window
    won = manager_client.get("/admin/insights/winbackrecipient/", {"won": "yes"}).content.decode()
    assert "Almawon" in won and "Bertlate" not in won and "Cleonone" not in won
    lost = manager_client.get("/admin/insights/winbackrecipient/", {"won": "no"}).content.decode()
    assert "Bertlate" in lost and "Cleonone" in lost and "Almawon" not in lost
    listing = manager_client.get("/admin/insights/winbackcampaign/").content.decode()
    assert '<td class="field-won_back">1/3</td>' in listing  # counted in the list's query


@pytest.mark.django_db
def test_a_manager_writes_a_campaign_in_the_admin_and_sends_it(manager_client, clock):
    shopper("Ann")
    segment = Segment.objects.create(name="All", rules={})
    reward = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "A mug"}, cost=100)
    form = {
        "name": "Spring",
        "segment": segment.pk,
        "reward": reward.pk,
        "measure_days": "30",
        "subjects__en": "We miss you",
        "bodies__en": "Come back",
    }
    page = manager_client.get("/admin/insights/winbackcampaign/add/").content.decode()
    assert 'name="bodies__ko"' in page and 'name="subjects_b__da"' in page
    refused = manager_client.post("/admin/insights/winbackcampaign/add/", {**form, "subjects_b__en": "B"})
    assert "Variant B is filled in" in refused.content.decode()
    assert manager_client.post("/admin/insights/winbackcampaign/add/", form).status_code == 302
    campaign = WinBackCampaign.objects.get()
    assert campaign.subjects == {"en": "We miss you"}
    draft = manager_client.get(f"/admin/insights/winbackcampaign/{campaign.pk}/change/").content.decode()
    assert 'name="_save"' in draft  # a draft is still written
    manager_client.post("/admin/insights/winbackcampaign/", {"action": "send", "_selected_action": [campaign.pk]})
    campaigns_sweep()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and campaign.emailed == 1
    page = manager_client.get(f"/admin/insights/winbackcampaign/{campaign.pk}/change/").content.decode()
    assert "Win-back rate" in page and "0.00 – " in page
    assert 'name="_save"' not in page  # a record once sent, without Save buttons


@pytest.mark.django_db
def test_an_agent_may_look_but_not_write_or_send(agent_client):
    assert agent_client.get("/admin/insights/winbackcampaign/").status_code == 200
    assert agent_client.get("/admin/insights/winbackcampaign/add/").status_code == 403
